#!/usr/bin/perl
# Membership changes in Redis (add, remove, weight change, drain, down) are
# applied live, without reload, and every worker routes by them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::IP;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_allow 127.0.0.0/8 ::1 unix:%%DIR%%/;
    upstream web { scaleset web resync=30s; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; add_header X-Pid $pid always; }
    }
EOF

my @workers = $t->nginx_workers;
is(scalar @workers, 2, 'two workers');

sub all_workers {
    my ($what, $cond) = @_;
    my $ok = $t->wait_for(sub {
        my $seen = by_worker($t, 'http', 8);
        return 0 unless 2 == grep { $seen->{$_} } @workers;
        return !grep { !$cond->($seen->{$_}) } @workers;
    }, timeout => 5, what => $what);
    ok($ok, $what);
}

sub only_all {
    my %want = map { $_ => 1 } @_;
    my @w = @_;
    return sub {
        my $c = shift;
        return !grep({ !$want{$_} } keys %$c) && !grep({ !$c->{$_} } @w);
    };
}

all_workers('initial members served by every worker', only_all(qw(b1 b2)));

pool_set($r, 'web', { 'web-3' => addr($t, 'b3') });
all_workers('added member served by every worker', only_all(qw(b1 b2 b3)));

pool_del($r, 'web', 'web-1');
all_workers('removed member gets no requests in any worker',
            only_all(qw(b2 b3)));

# weights: with one shared schedule the shares are exact over a period
pool_set($r, 'web', { 'web-2' => addr($t, 'b2') . ' weight=3' });
$t->wait_for(sub {
    my $c = count_backends($t, 'http', 8);
    ($c->{b2} // 0) == 6 && ($c->{b3} // 0) == 2
}, timeout => 5, what => 'weight 3:1');
my $c = count_backends($t, 'http', 40);
is_deeply($c, { b2 => 30, b3 => 10 },
          'weight change: shares 3:1 over 40 requests') or diag explain $c;

pool_set($r, 'web', { 'web-2' => addr($t, 'b2') . ' weight=3 drain' });
all_workers('drained member gets no new requests', only_all(qw(b3)));

pool_set($r, 'web', { 'web-3' => addr($t, 'b3') . ' down' });
$t->wait_for(sub { my ($code) = $t->http_get('http', '/'); $code == 502 },
             timeout => 5, what => '502');
my $t0 = time;
my ($code) = $t->http_get('http', '/');
my $dt = time - $t0;
is($code, 502, 'no serving member: 502');
cmp_ok($dt, '<', 0.5, 'the 502 comes at once');

pool_set($r, 'web', { 'web-3' => addr($t, 'b3') });
all_workers('member back from down serves again', only_all(qw(b3)));

# an IPv6 member: the whole sockaddr_in6 reaches the request
my $p6 = $t->port('b6');
$t->spawn(name => 'backend6',
          cmd => [$^X, $t->root . '/t/lib/backend.pl', '--ctl',
                  $t->dir . '/backends', "b6=[::1]:$p6"],
          wait => sub { IO::Socket::IP->new(PeerHost => '::1',
                                            PeerPort => $p6) });
pool_replace($r, 'web', { 'web-6' => "[::1]:$p6" });
all_workers('an IPv6 member is served by every worker', only_all(qw(b6)));

# a unix socket member (another nginx, without the module, behind it)
my $sock = $t->dir . '/unixbe.sock';
$t->start_nginx(name => 'unixbe', no_module => 1, workers => 1, http => <<"EOF");
    server { listen unix:$sock; location / { return 200 "bu\\n"; } }
EOF
$t->wait_for(sub { -S $sock }, timeout => 5, what => 'unix socket');
pool_replace($r, 'web', { 'web-u' => "unix:$sock", 'web-6' => "[::1]:$p6" });
all_workers('a unix: member is served by every worker', only_all(qw(bu b6)));
$c = count_backends($t, 'http', 20);
is_deeply($c, { bu => 10, b6 => 10 }, 'unix and IPv6 members share 1:1')
    or diag explain $c;

like($t->log('nginx'),
     qr/pool "web" epoch \d+ from redis: 2 members \(0 added, 0 removed, 1 changed\)/,
     'changes are logged');
unlike($t->log('nginx'), qr/\[(crit|alert|emerg)\]/, 'no critical log entries');

$t->done;
