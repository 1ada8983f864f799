#!/usr/bin/perl
# Active health checks: a member whose /healthz fails (500, timeout, reset,
# dead) leaves the rotation within interval x fails + timeout and comes
# back after passes; clients see no error meanwhile; a new member gets no
# request before its first passing check.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(map { ("b$_" => "b$_") } 1 .. 4);

pool_set($r, 'web', { map { ("web-$_" => addr($t, "b$_")) } 1 .. 3 });

# interval 300ms, fails 2, timeout 200ms: out within ~0.8 s
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web {
        scaleset web resync=30s;
        scaleset_health_check interval=300ms timeout=200ms fails=2 passes=2;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        proxy_next_upstream error timeout http_502;
        proxy_connect_timeout 1s;
        proxy_read_timeout 2s;
        location / { proxy_pass http://web; }
    }
EOF

sub serving {
    my $c = count_backends($t, 'http', 24);
    return join ' ', sort keys %$c;
}

ok($t->wait_for(sub { serving() eq 'b1 b2 b3' }, timeout => 5,
                what => 'all three up'), 'members up after their first check');

# out of rotation by reason; the bound is interval x fails + timeout plus
# the scan period and scheduling slack
my %cases = (
    b1 => [healthz => 500],
    b2 => [delay => 1, scope => 'health'],
    b3 => [mode => 'reset', scope => 'health'],
);
my %reason = (b1 => 'status', b2 => 'timeout_read', b3 => 'reset');

for my $b (sort keys %cases) {
    my $t0 = time;
    $t->backend($b, @{ $cases{$b} });
    my %others = map { $_ => 1 } grep { $_ ne $b } qw(b1 b2 b3);
    my $gone = $t->wait_for(sub {
        my $c = count_backends($t, 'http', 12);
        return !$c->{$b};
    }, timeout => 5, what => "$b out");
    my $dt = time - $t0;
    ok($gone, "$b ($reason{$b}) taken out of rotation");
    cmp_ok($dt, '<', 0.3 * 2 + 0.2 + 0.6, "$b out within interval x fails "
           . "+ timeout (+ slack): " . sprintf('%.2fs', $dt));
    like($t->log('nginx'), qr/member "web-\Q${\ substr($b, 1)}\E" of pool "web" is down \($reason{$b}\)/,
         "$b: the log names the reason");

    $t->backend($b);                      # healthy again
    ok($t->wait_for(sub { serving() =~ /\b$b\b/ }, timeout => 5,
                    what => "$b back"), "$b back after passes");
}

# a dying member under continuous load: no client error
{
    my $errors = 0;
    my $n = 0;
    my $end = time + 2.5;
    my $killed = 0;
    while (time < $end) {
        if (!$killed && $n > 20) {
            $t->backend('b2', mode => 'reset');    # everything fails
            $killed = time;
        }
        my ($code) = $t->http_get('http', '/');
        $errors++ if $code != 200;
        $n++;
    }
    is($errors, 0, "no client error over $n requests while b2 died");
    my $c = count_backends($t, 'http', 12);
    ok(!$c->{b2}, 'the dead member is out of rotation');
    $t->backend('b2');
}

# a new member gets no request before its first passing check
{
    $t->backend('b4', healthz => 503);
    ok($t->wait_for(sub { serving() eq 'b1 b2 b3' }, timeout => 5,
                    what => 'b2 back'), 'pool back to three');
    pool_set($r, 'web', { 'web-4' => addr($t, 'b4') });
    my $hits_before = $t->backend_hits('b4');
    my $t0 = time;
    count_backends($t, 'http', 20) while time - $t0 < 1;
    is($t->backend_hits('b4') - $hits_before, 0,
       'new member: no request while it has not passed a check');
    $t->backend('b4');
    ok($t->wait_for(sub { serving() =~ /\bb4\b/ }, timeout => 5,
                    what => 'b4 in'), 'new member serves after passing');
}

$t->done;
