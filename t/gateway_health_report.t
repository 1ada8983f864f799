#!/usr/bin/perl
# The health report's cost follows what changed: an idle gateway keeps
# its report alive (PEXPIRE) without writing a record again, and a resync
# that finds the epoch and the size unchanged does not read the members;
# yet the report is rewritten at once when its hash is gone (deleted, or
# Redis restarted empty), loses the field of a member that left, and the
# members are still read in full every few resyncs.  A gateway whose pool
# was empty at its last report (no hash) reports its first member at once,
# not a period later.

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
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

pool_set($r, 'web', { map { ("web-$_" => addr($t, "b$_")) } 1 .. 3 });

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=100ms;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
    }
EOF

my $key = 'scaleset:{web}:health:gw1';

sub calls {
    my ($cmd) = @_;
    my ($info) = $r->info('commandstats');
    return ($info->{"cmdstat_$cmd"} // '') =~ /calls=(\d+)/ ? $1 : 0;
}

sub fields { my %h = $r->hgetall($key); return join ' ', sort keys %h }

ok($t->wait_for(sub { fields() eq 'web-1 web-2 web-3' }, timeout => 10,
                what => 'health report'), 'the report holds the 3 members');
like($r->hget($key, 'web-1') // '', qr/^unchecked conns=0 fails=0 checked=0 at=\d+$/,
     'health record of a member');

# idle: reports keep the hash alive and write no record
my ($hset, $pexpire, $hgetall, $hlen) = map { calls($_) } qw(hset pexpire hgetall hlen);
ok($t->wait_for(sub { calls('pexpire') >= $pexpire + 3 }, timeout => 10,
                what => '3 reports'), 'idle reports are sent');
is(calls('hset'), $hset, 'an idle report writes no record again');
my $ttl = $r->pttl($key);
ok($ttl > 0 && $ttl <= 3000, "the report still expires ($ttl ms)");

# resyncs every 100 ms: the probe answers them; one in 12 reads the hash
ok($t->wait_for(sub { calls('hlen') >= $hlen + 24 }, timeout => 20,
                what => '24 resyncs'), 'resyncs probe the members');
my $reads = calls('hgetall') - $hgetall;
cmp_ok($reads, '>=', 1, "the members are still read in full ($reads reads)");
cmp_ok($reads, '<=', 4, "an unchanged resync does not read them ($reads "
       . 'reads in ' . (calls('hlen') - $hlen) . ' resyncs)');

# a draining member's record is written at every report, with the time
# it was made (the scaler counts only reports made after a drain began);
# the others' records are not written again
sub at_of { ($r->hget($key, $_[0]) // '') =~ / at=(\d+)/ ? $1 : 0 }
my ($at2, $at3) = (at_of('web-2'), at_of('web-3'));
$r->hset('scaleset:{web}:members', 'web-2', addr($t, 'b2') . ' drain');
$r->incr('scaleset:{web}:epoch');
ok($t->wait_for(sub { at_of('web-2') > $at2 + 2000 }, timeout => 10,
                what => 'web-2 rewritten'),
   'the draining member\'s record is written again, its at= moving on');
is(at_of('web-3'), $at3, 'an idle one\'s is not');
$r->hset('scaleset:{web}:members', 'web-2', addr($t, 'b2'));
$r->incr('scaleset:{web}:epoch');

# a change through the write protocol is applied at the next resync even
# without the message: the epoch moved
$r->hset('scaleset:{web}:members', 'web-4', addr($t, 'b1'));
$r->incr('scaleset:{web}:epoch');
ok($t->wait_for(sub { fields() eq 'web-1 web-2 web-3 web-4' }, timeout => 10,
                what => 'web-4 reported'),
   'a member added without a PUBLISH is applied and reported');

# the hash deleted under the gateway: written in full again
$r->del($key);
ok($t->wait_for(sub { fields() eq 'web-1 web-2 web-3 web-4' }, timeout => 5,
                what => 'report rewritten'), 'a deleted report is rewritten');
like($t->log('nginx') // '', qr/health report \S+ was gone/,
     'the gateway says it found its report gone');

# a member that leaves loses its field
pool_del($r, 'web', 'web-3');
ok($t->wait_for(sub { fields() eq 'web-1 web-2 web-4' }, timeout => 5,
                what => 'web-3 gone'), 'the field of a member that left goes');

# Redis restarted empty: the members are gone too, so set them again
$t->stop('redis');
$t->start_redis;
$r = $t->redis(undef, fresh => 1);
pool_set($r, 'web', { map { ("web-$_" => addr($t, "b$_")) } 1, 2 });
ok($t->wait_for(sub { fields() eq 'web-1 web-2' }, timeout => 15,
                what => 'report after restart'),
   'the report is written to a Redis that restarted empty');

# a gateway that starts with an empty pool has no report (no field, no
# hash: the scaler does not know it); once it gets a member it reports at
# once, not at its next period (10 s here), or a drain that begins
# meanwhile would not wait for the requests it sends that member; gw1
# stopped, the DEL of gw2's first (empty, full) report is the only one
$t->stop('nginx');
my $del = calls('del');
$t->start_nginx(name => 'gw2', workers => 1, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw2;
    upstream app {
        scaleset app resync=100ms;
        scaleset_health_check uri=/ interval=10s;
    }
    server {
        listen 127.0.0.1:%%PORT_gw2%%;
        location / { proxy_pass http://app; }
        location = /status { scaleset_status; }
    }
EOF
my $key2 = 'scaleset:{app}:health:gw2';
ok($t->wait_for(sub { ($t->gateway_status('gw2')->{pools}{app}{synced}
                       // 0) > 0 }, timeout => 10,
                what => 'gw2 read its empty pool'),
   'a gateway with an empty pool read it');
ok($t->wait_for(sub { calls('del') > $del }, timeout => 10,
                what => 'gw2 made its first report'),
   'it made its first report');
ok(!$r->exists($key2), 'with no member it has no report');
pool_set($r, 'app', { 'app-1' => addr($t, 'b1') });
ok($t->wait_for(sub { $r->hexists($key2, 'app-1') }, timeout => 5,
                what => 'gw2 reported app-1'),
   'its first member is reported at once, not at the next period');

$t->done;
