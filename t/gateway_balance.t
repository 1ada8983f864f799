#!/usr/bin/perl
# Balancing: nginx's smooth weighted round robin order and shares, backup
# members only when no primary can serve, max_fails/fail_timeout, and
# proxy_next_upstream retries that reach a different member.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(a => 'a', b => 'b', c => 'c', k => 'k');

pool_set($r, 'web', {
    'web-1' => addr($t, 'a') . ' weight=5',
    'web-2' => addr($t, 'b'),
    'web-3' => addr($t, 'c'),
});

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web resync=30s; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / {
            proxy_pass http://web;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            add_header X-Up $upstream_addr always;
        }
    }
EOF

$t->wait_for(sub { my ($c) = $t->http_get('http', '/'); $c == 200 },
             what => 'served');

# nginx's smooth WRR for weights 5, 1, 1 is "a a b a c a a"; the shared
# cursor starts anywhere in the period, so compare rotations
my $seq = join '', map { my (undef, $b) = $t->http_get('http', '/');
                         $b =~ s/\s+//g; $b } 1 .. 14;
my $period = 'aabacaa';
my $rot = grep { substr($period x 2, $_, 7) x 2 eq $seq } 0 .. 6;
ok($rot, "smooth weighted round robin order (got $seq)");

my $c = count_backends($t, 'http', 70);
is_deeply($c, { a => 50, b => 10, c => 10 }, 'shares 5:1:1 over 70 requests')
    or diag explain $c;

# mixed weights against a reference implementation of nginx's algorithm
sub swrr {
    my @w = @_;
    my $total = 0;
    $total += $_ for @w;
    my @cw = (0) x @w;
    my $seq = '';
    for (1 .. $total) {
        my $best;
        for my $i (0 .. $#w) {
            $cw[$i] += $w[$i];
            $best = $i if !defined $best || $cw[$i] > $cw[$best];
        }
        $cw[$best] -= $total;
        $seq .= (qw(a b c k))[$best];
    }
    return $seq;
}

for my $w ([4, 4, 1, 7], [3, 6, 9, 2], [1, 2, 3, 4], [2, 4, 6, 8]) {
    my %set;
    my @names = qw(a b c k);
    $set{"web-$_"} = addr($t, $names[$_ - 1]) . " weight=$w->[$_ - 1]"
        for 1 .. 4;
    pool_replace($r, 'web', \%set);
    my $want = swrr(@$w);
    my $len = length $want;
    my $ok = $t->wait_for(sub {
        my $seq = join '', map { my (undef, $b) = $t->http_get('http', '/');
                                 $b =~ s/\s+//g; $b } 1 .. 2 * $len;
        return scalar grep { substr($want x 3, $_, 2 * $len) eq $seq }
                           0 .. $len - 1;
    }, timeout => 5, what => "weights @$w");
    ok($ok, "order for weights @$w is nginx's ($want)");
}

# a total weight above the schedule's size (4096 here): weights are scaled
# down to fit, shares stay close, a warning says so.  Several members may
# share an address, so 4 backends carry 6 members of 4995 in all.
pool_replace($r, 'web', {
    'web-1' => addr($t, 'a') . ' weight=1000',
    'web-2' => addr($t, 'a') . ' weight=999',
    'web-3' => addr($t, 'b') . ' weight=998',
    'web-4' => addr($t, 'b') . ' weight=997',
    'web-5' => addr($t, 'k') . ' weight=1000',
    'web-6' => addr($t, 'c') . ' weight=1',
});
$t->wait_for(sub { $t->log('nginx') =~ /total weight 4995 is more than the schedule holds \(4096\)/ },
             timeout => 5, what => 'scaled-down warning');
like($t->log('nginx'), qr/\[warn\].*total weight 4995 is more than the schedule holds \(4096\): weights are scaled down/,
     'a total weight above the schedule is logged as a warning');
$c = count_backends($t, 'http', 1000);
cmp_ok(abs(($c->{a} // 0) - 400), '<=', 40, "scaled: a ~40 % ($c->{a})");
cmp_ok(abs(($c->{b} // 0) - 400), '<=', 40, "scaled: b ~40 % ($c->{b})");
cmp_ok(abs(($c->{k} // 0) - 200), '<=', 30, "scaled: k ~20 % ($c->{k})");
cmp_ok($c->{c} // 0, '<=', 1, 'scaled: weight 1 of 4995 gets at most one');
is(join(',', grep { !/^[abck]$/ } keys %$c), '', 'no errors while scaled');

# backup: used only when no primary can serve
pool_replace($r, 'web', {
    'web-1' => addr($t, 'a'),
    'web-9' => addr($t, 'k') . ' backup',
});
$t->wait_for(sub { my (undef, $b) = $t->http_get('http', '/');
                   $b eq "a\n" }, what => 'new membership');
$c = count_backends($t, 'http', 10);
is_deeply($c, { a => 10 }, 'backup gets nothing while a primary serves')
    or diag explain $c;

pool_set($r, 'web', { 'web-1' => addr($t, 'a') . ' down' });
$t->wait_for(sub { my (undef, $b) = $t->http_get('http', '/');
                   $b eq "k\n" }, what => 'backup serving');
$c = count_backends($t, 'http', 10);
is_deeply($c, { k => 10 }, 'backup serves when no primary can')
    or diag explain $c;

pool_set($r, 'web', { 'web-1' => addr($t, 'a') });
$t->wait_for(sub { my (undef, $b) = $t->http_get('http', '/');
                   $b eq "a\n" }, what => 'primary back');
$c = count_backends($t, 'http', 10);
is_deeply($c, { a => 10 }, 'primary back: backup idle again')
    or diag explain $c;

# a failing member: retried on another one, then skipped for fail_timeout
pool_replace($r, 'web', {
    'web-1' => addr($t, 'a') . ' max_fails=1 fail_timeout=30s',
    'web-2' => addr($t, 'b') . ' max_fails=1 fail_timeout=30s',
});
$t->wait_for(sub { my $c = count_backends($t, 'http', 4);
                   ($c->{a} // 0) == 2 && ($c->{b} // 0) == 2 },
             what => 'a and b');

$t->backend('a', mode => 'reset');
my ($retried, $ok, $via_a) = (0, 0, 0);
my $a = addr($t, 'a');
my $b = addr($t, 'b');
for (1 .. 30) {
    my ($code, $body, $h) = $t->http_get('http', '/');
    $ok++ if $code == 200 && $body eq "b\n";
    my $up = $h->{'x-up'} // '';
    $via_a++ if index($up, $a) >= 0;
    $retried++ if $up eq "$a, $b";
}
is($ok, 30, 'every request served by the healthy member');
cmp_ok($retried, '>=', 1, 'a failed attempt was retried on a different member');
cmp_ok($via_a, '<=', 2, "the failed member is skipped for fail_timeout "
                        . "($via_a attempts)");
like($t->log('nginx'), qr/member "web-1" of pool "web" temporarily disabled/,
     'disabled member logged');

# both failing: 502 quickly, no hang
$t->backend('b', mode => 'reset');
pool_replace($r, 'web', {
    'web-1' => addr($t, 'a') . ' max_fails=0',
    'web-2' => addr($t, 'b') . ' max_fails=0',
});
sleep 0.2;
my ($code) = $t->http_get('http', '/');
is($code, 502, 'all members failing: 502');

$t->done;
