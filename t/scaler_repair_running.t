#!/usr/bin/perl
# Automatic repair of running instances (issue 16, What to build 2): a
# real gateway (health checks every 300 ms), the real scaler on the test
# driver (its domains' disks overlays on a base volume, so a reimage has
# one to make again), guestsim, real Redis, load through the gateway all
# along.
#
#   replace   one of 4 turns down in guestsim: replaced after repair.grace
#             (drained, deleted, a new id), repairs_total +1;
#   protect   one protected from scale-set actions is not repaired (and
#             says why); its protection off, it is;
#   reimage   POST .../reimage makes one again from the base image, same
#             id; POST .../restart resets one, same id;
#   restart   (pool rs, repair.action restart) a wedged guest is reset,
#             keeps its id and serves again;
#   budget    (rs) 30 instances, 10 of them wedged: at most 2 repairs
#             under way at once (5 %, rounded up), all 10 repaired.
#
# 0 failed client requests through all of it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use List::Util qw(max);
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $r = $t->redis;

my $gport = $t->port('guest');
my %pool = (name => 'web', readiness => 'tcp', cidr => '127.0.10.0/24',
            port => $gport, capacity => [0, 40, 4], drain_timeout => '10s',
            zones => [['z1', 'NODE']],
            template_extra => 'volume: { pool: images, backing: base.qcow2 }',
            extra => "    repair: { grace: 2s, action: replace }\n");
my $rport = $t->port('guest-rs');
my $s = Scaleset::Scaler->new($t, pools => [ \%pool,
    { name => 'rs', readiness => 'tcp', cidr => '127.0.11.0/24',
      port => $rport, capacity => [0, 40, 0],
      extra => "    repair: { grace: 2s, action: restart }\n" } ]);
$pool{zones} = [['z1', $s->volume_node]];
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);
$s->guestsim_for('rs', $ctl);

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=5s max_members=64;
        scaleset_health_check uri=/healthz interval=300ms timeout=250ms
                              fails=1 passes=1;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            proxy_pass http://web;
            proxy_next_upstream error timeout http_500 http_502;
            proxy_connect_timeout 1s;
        }
        location = /status { scaleset_status; }
    }
    upstream rs {
        scaleset rs resync=5s max_members=64;
        scaleset_health_check uri=/healthz interval=300ms timeout=250ms
                              fails=1 passes=1;
    }
EOF

sub up_ids {
    my ($pool) = @_;
    my $st = $t->gateway_status;
    return sort map { $_->{id} } grep { $_->{health} eq 'up' }
                @{ $st->{pools}{$pool // 'web'}{members} // [] };
}
sub pool {
    my (undef, $p) = $s->api('GET', '/v1/pools/' . ($_[0] // 'web'));
    return $p // {};
}
sub repairs {
    my (undef, $m) = $t->http_get('api', '/metrics');
    return ($m // '') =~ /^scaleset_scaler_repairs_total\{pool="web"\} (\d+)$/m
           ? $1 : -1;
}
sub serving {
    my ($n, $pool) = @_;
    $pool //= 'web';
    return $t->wait_for(sub { my @u = up_ids($pool); @u == $n
                              && keys %{ $s->members($pool) } == $n
                              && pool($pool)->{repair}{in_progress} == 0 },
                        timeout => 60,
                        what => "$n of $pool up, no repair under way");
}
sub switch { my ($id, $w) = @_; $t->write_file("guestctl/$id", "$w\n") }
my $log = sub { $t->log('scaler') };

ok(serving(4), 'four instances up in the gateway');
$t->start_loadgen(rate => 40);
is(repairs(), 0, 'repairs_total 0');

# --- replace ------------------------------------------------------------
my $t0 = time;
switch('web-000002', 'fail');
ok($t->wait_for(sub { $log->() =~ /id=web-000002 draining \(down on every gateway for \d+ ms \(repair\.grace 2000 ms\): replaced\) rule=repair/ },
                timeout => 15, what => 'web-000002 replaced'),
   'down on the gateway: drained for repair');
cmp_ok(time - $t0, '>=', 2, 'not before repair.grace');
ok(serving(4), 'the pool serves on 4 again');
ok(!exists $s->members('web')->{'web-000002'}, 'the down one is gone');
like($log->(), qr/id=web-000005 created in zone z1 at \S+ \(replacing web-000002\) rule=repair/,
     'a new id replaced it');
like($log->(), qr/id=web-000005 repaired: up on every gateway, replacing web-000002/,
     'repaired once its replacement is up');
is(repairs(), 1, 'repairs_total +1');

# --- protection ---------------------------------------------------------
my ($code) = $s->api('PUT', '/v1/pools/web/instances/web-000003/protection',
                     { scale_set_actions => JSON::PP::true() });
is($code, 200, 'web-000003 protected from scale-set actions');
switch('web-000003', 'fail');
ok($t->wait_for(sub { $log->() =~ /id=web-000003 running waits: down, not repaired: protected from scale-set actions/ },
                timeout => 15, what => 'held by protection'),
   'down past repair.grace: not repaired, and says why');
sleep 1;
ok(exists $s->members('web')->{'web-000003'}, 'it stays');
$s->api('PUT', '/v1/pools/web/instances/web-000003/protection',
        { scale_set_actions => JSON::PP::false() });
ok($t->wait_for(sub { !exists $s->members('web')->{'web-000003'} },
                timeout => 15, what => 'web-000003 repaired'),
   'its protection off, it is repaired');
ok(serving(4), 'four again');

# --- reimage and restart through the API keep the id ------------------
my $before = $r->get('scaleset:{web}:seq');
($code, my $b) = $s->api('POST', '/v1/pools/web/instances/web-000004/reimage');
is($code, 202, 'POST .../reimage: accepted');
ok($t->wait_for(sub { $log->() =~ /id=web-000004 reimaged \(reimaged through the API\) rule=api/ },
                timeout => 10, what => 'reimaged'), 'reimaged');
like($log->(), qr/id=web-000004 replacing volume web-000004\.qcow2/,
     'its overlay made again on the base');
ok($t->wait_for(sub { $log->() =~ /id=web-000004 repaired: up on every gateway$/m },
                timeout => 15, what => 'web-000004 up again'),
   'up again');
ok(serving(4), 'it serves');
ok(exists $s->members('web')->{'web-000004'}, 'same id');
is($r->get('scaleset:{web}:seq'), $before, 'no instance created for it');
($code) = $s->api('POST', '/v1/pools/web/instances/web-000004/restart');
is($code, 202, 'POST .../restart: accepted');
ok($t->wait_for(sub { $log->() =~ /id=web-000004 restarted \(restarted through the API\) rule=api/ },
                timeout => 10, what => 'restarted'), 'restarted');
($code) = $s->api('GET', '/v1/pools/web/instances/web-000004/restart');
is($code, 405, 'GET .../restart: 405');

# --- repair.action restart: a wedged guest (pool rs) --------------------
($code) = $s->api('PUT', '/v1/pools/rs/capacity', { capacity => 2 });
ok(serving(2, 'rs'), 'pool rs: two up');
switch('rs-000001', 'wedged');
ok($t->wait_for(sub { $log->() =~ /pool=rs id=rs-000001 restarted \(down on every gateway .*\) rule=repair/ },
                timeout => 15, what => 'rs-000001 restarted'),
   'a wedged guest is restarted');
ok($t->wait_for(sub { $log->() =~ /pool=rs id=rs-000001 repaired: up on every gateway$/m },
                timeout => 15, what => 'rs-000001 repaired'),
   'and serves again');
ok(serving(2, 'rs'), 'two up');
ok(exists $s->members('rs')->{'rs-000001'}, 'same id, still a member');

# --- 30 instances, 10 failing: at most 2 at once ------------------------
($code) = $s->api('PUT', '/v1/pools/rs/capacity', { capacity => 30 });
ok(serving(30, 'rs'), '30 instances up');
my @ids = (grep { $_ ne 'rs-000001' } sort keys %{ $s->members('rs') })[0 .. 9];
switch($_, 'wedged') for @ids;
my ($most, $repaired) = (0, 0);
ok($t->wait_for(sub {
    my $p = pool('rs');
    $most = max($most, $p->{repair}{in_progress} // 0);
    $repaired = () = $log->() =~ /pool=rs id=\S+ repaired: up on every gateway$/mg;
    $repaired >= 1 + 10 && ($p->{repair}{in_progress} // 1) == 0;
}, timeout => 120, interval => 0.05, what => '10 repaired'),
   "the 10 are repaired ($repaired repairs logged)");
is(pool('rs')->{repair}{at_once}, 2, 'at most 2 at once for 30 instances');
cmp_ok($most, '<=', 2, "never more than 2 under way (seen: $most)");
is($most, 2, 'and 2 at times');
ok(serving(30, 'rs'), '30 up again');

$t->stop('loadgen');
my $lg = $t->loadgen_stats;
cmp_ok($lg->{ok} // 0, '>', 500, "load through the gateway ($lg->{ok})");
is($lg->{failed} // -1, 0, '0 failed client requests')
    or diag explain [ @{ $lg->{errors} // [] }[0 .. 4] ];
$t->done;
