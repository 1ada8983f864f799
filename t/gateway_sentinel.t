#!/usr/bin/perl
# scaleset_redis sentinel=NAME: one master, one replica, three sentinels
# (the first address listed is dead, so the gateway asks the next).  The
# gateway finds the master through them; the master is killed under load
# (tools/loadgen through the gateway): no request fails, the gateway
# follows the failover to the promoted replica, and a membership change
# made there after the failover reaches it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis(name => 'm');
$t->start_redis(name => 'r', replicaof => 'm');
my $m = $t->redis('m');
my $rr = $t->redis('r');
ok($t->wait_for(sub { ($rr->info('replication')->{master_link_status} // '') eq 'up' },
                timeout => 10, what => 'replication'), 'the replica follows the master');
my @s = $t->start_sentinels(monitor => 'm', master => 'mymaster',
                            down_after => 1000, failover_timeout => 5000);
is(scalar @s, 3, 'three sentinels see each other and the replica');
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

pool_set($m, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });

my $dead = $t->port('dead');               # nothing listens there
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis sentinel=mymaster 127.0.0.1:%%PORT_dead%%
                   127.0.0.1:%%PORT_s1%% 127.0.0.1:%%PORT_s2%%
                   127.0.0.1:%%PORT_s3%% timeout=1s;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=1s;
        scaleset_health_check interval=300ms timeout=200ms;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /status { scaleset_status; }
        location = /metrics { scaleset_metrics; }
    }
EOF

sub status { $t->gateway_status }

my $maddr = '127.0.0.1:' . $t->port('m');
my $raddr = '127.0.0.1:' . $t->port('r');

ok($t->wait_for(sub { my $c = count_backends($t, 'http', 6); $c->{b1} && $c->{b2} },
                timeout => 10, what => 'served'), 'the pool is read from the master the sentinels name');
is(status()->{redis}{master}, $maddr, 'the status page names the master');
like($t->log('nginx'), qr/sentinel 127\.0\.0\.1:$dead \(master "mymaster"\): /,
     'the dead sentinel is passed over');
ok($t->wait_for(sub { my $h = $m->hgetall('scaleset:{web}:health:gw1'); @{ $h // [] } >= 4 },
                timeout => 5, what => 'reports'), 'health reports go to the master');

$t->start_loadgen(rate => 100);
sub load { $t->loadgen_stats }
ok($t->wait_for(sub { (load()->{ok} // 0) > 50 }, what => 'load'), 'load running');

# the master dies
my $t0 = time;
$t->kill_server('m', 'KILL');
ok($t->wait_for(sub { my ($h, $p) = $t->sentinel_master('s2'); ($p // 0) == $t->port('r') },
                timeout => 30, what => 'failover'), 'the sentinels promote the replica');
ok($t->wait_for(sub { (status()->{redis}{master} // '') eq $raddr && status()->{redis}{connected} },
                timeout => 15, what => 'gateway follows'),
   'the gateway follows the failover to the new master');
my $dt = time - $t0;
diag(sprintf 'master killed -> gateway connected to the new one: %.1fs', $dt);
like($t->log('nginx'), qr/redis master "mymaster" is at \Q$raddr\E \((\+switch-master|asked a sentinel)\)/,
     'and logs it');

my $t1 = time;
pool_set($rr, 'web', { 'web-3' => addr($t, 'b3') });
ok($t->wait_for(sub { ($t->gateway_status->{pools}{web}{members_count} // 0) == 3 },
                timeout => 10, what => 'change after failover'),
   'a membership change made after the failover reaches the gateway');
diag(sprintf 'master killed -> change written on the new master applied: '
     . '%.2fs (%.3fs after the write)', time - $t0, time - $t1);
ok($t->wait_for(sub { count_backends($t, 'http', 9)->{b3} }, timeout => 10,
                what => 'new member serves'), 'and its new member serves');
my (undef, $metrics) = $t->http_get('http', '/metrics');
like($metrics, qr/^scaleset_redis_master_changes_total [1-9]/m, 'the metric counts the change of master');
ok($t->wait_for(sub { my $h = $rr->hgetall('scaleset:{web}:health:gw1'); @{ $h // [] } >= 6 },
                timeout => 5, what => 'reports'), 'health reports go to the new master');

sleep 1;
$t->stop('loadgen');
my $l = load();
is($l->{failed}, 0, "no failed request through the failover ($l->{ok} answered)")
    or diag explain $l;

$t->done;
