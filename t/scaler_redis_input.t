#!/usr/bin/perl
# scaler: what a pass reads from Redis is input.  A seq that is no number
# is replaced (numbering goes on above the known ids); a member record of
# ours that does not parse is written again; a gateway report of
# conns=18446744073709551516 does not wrap the sum of connections around
# (issue 13: a draining instance was deleted at once); a drain start in
# the future is refused (the drain counts from when it was seen); a member
# hash far beyond any pool is refused whole: no action until it is
# readable again; a gateway's report hash beyond it makes the connections
# unknown.  Each refusal is counted in
# scaleset_scaler_errors_total{kind="redis_data"}.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $r = $t->redis;
my $mk = 'scaleset:{web}:members';
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    capacity => [0, 5, 2], cidr => '127.0.9.0/24', drain_timeout => '4s' } ]);
sub members { $s->members('web') }
sub metric {
    my ($kind) = @_;
    my (undef, $m) = $t->http_get('api', '/metrics');
    return $m =~ /^scaleset_scaler_errors_total\{pool="web",kind="$kind"\} (\d+)$/m
        ? $1 : -1;
}
sub capacity {
    my ($code) = $s->api('PUT', '/v1/pools/web/capacity',
                         { capacity => $_[0] });
    return $code;
}

# seq is no number: ids go on above the known ones, seq is written again
$r->set('scaleset:{web}:seq', 'abc');
$s->start;
ok($t->wait_for(sub { keys %{ members() } == 2 }, what => '2 members'),
   'two instances despite a seq that is no number');
is_deeply([sort keys %{ members() }], [qw(web-000001 web-000002)],
          'numbered from 1');
is($r->get('scaleset:{web}:seq'), 2, 'seq written again');
cmp_ok(metric('redis_data'), '>=', 1, 'the refused seq is counted');

# a record of ours that does not parse is written again
$r->hset($mk, 'web-000001', 'garbage here');
ok($t->wait_for(sub { (members()->{'web-000001'} // '') =~ /^127\.0\.9\.1:8080 zone=z1/ },
                what => 'record rewritten'),
   'a record of ours that does not parse is written again');
like($t->log('scaler'), qr/id=web-000001 registered .*\(ready; its record did not parse\)/,
     'logged');

# forged connection counts: the drain waits for drain_timeout
my $now = int(time * 1000);
$r->hset('scaleset:{web}:health:gw1', 'web-000002',
         "up conns=18446744073709551516 fails=0 checked=$now");
$r->hset('scaleset:{web}:health:gw2', 'web-000002',
         "up conns=5 fails=0 checked=$now");
is(capacity(1), 200, 'capacity 1');
my $t_drain;
ok($t->wait_for(sub { (members()->{'web-000002'} // '') =~ / drain$/
                      and $t_drain = time }, what => 'drain'),
   'web-000002 drains');
ok($t->wait_for(sub { !exists members()->{'web-000002'} }, timeout => 10,
                what => 'web-000002 gone'), 'and goes');
my $dt = time - $t_drain;
cmp_ok($dt, '>=', 3, sprintf('only at drain_timeout (after %.1f s): '
       . '2^64 - 100 + 5 connections are many, not a few less than none',
       $dt));
like($t->log('scaler'), qr/id=web-000002 deleted \(drain_timeout[;)].* rule=drain/,
     'deleted by drain_timeout');

# a drain start in the future is refused: it counts from when it began
$now = int(time * 1000);
$r->hset('scaleset:{web}:health:gw1', 'web-000001',
         "up conns=1 fails=0 checked=$now");
my $before = metric('redis_data');
is(capacity(0), 200, 'capacity 0');
ok($t->wait_for(sub { (members()->{'web-000001'} // '') =~ / drain$/
                      and $t_drain = time }, what => 'drain'),
   'web-000001 drains');
$r->hset('scaleset:{web}:draining', 'web-000001', $now + 86400_000);
ok($t->wait_for(sub { !exists members()->{'web-000001'} }, timeout => 10,
                what => 'web-000001 gone'),
   'a drain start a day ahead does not hold the drain a day');
cmp_ok(time - $t_drain, '>=', 3, 'it held until drain_timeout');
cmp_ok(metric('redis_data'), '>', $before, 'the refused start is counted');

# a member hash far beyond any pool: refused whole, nothing done
is(capacity(2), 200, 'capacity 2');
ok($t->wait_for(sub { keys %{ members() } == 2 }, what => '2 members'),
   'two again');
my @junk = map { ("junk-$_", "127.0.10.1:80") } 1 .. 4001;
$r->hmset($mk, @junk);
my $off = length $t->log('scaler');
is(capacity(4), 200, 'capacity 4 with 4003 members in the hash');
ok($t->wait_for(sub { substr($t->log('scaler'), $off) =~ /members not read \(.*TOOBIG 4003 fields, more than 4000.*\): no action/ },
                what => 'refusal logged'), 'the hash is refused, logged');
my $e0 = metric('redis');
ok($t->wait_for(sub { metric('redis') >= $e0 + 3 }, what => '3 passes'),
   'three more passes');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
ok(!$p->{redis}, 'redis: false in the API');
is($p->{instances}, 2, 'nothing created meanwhile');
unlike(substr($t->log('scaler'), $off), qr/created in zone|deregistered/,
       'no creation and no deregistration of the unknown members');
$r->hdel($mk, map { "junk-$_" } 1 .. 4001);
ok($t->wait_for(sub { keys %{ members() } == 4 }, what => '4 members'),
   'readable again: the pass goes on');
like(substr($t->log('scaler'), $off), qr/members read again/, 'logged');

# one gateway's report hash beyond the bound: connections unknown
$r->hmset('scaleset:{web}:health:gw9', map { ("x$_", 'up conns=0 fails=0 checked=1') } 1 .. 4001);
ok($t->wait_for(sub { substr($t->log('scaler'), $off) =~ /gateway reports not read \(gw9: TOOBIG more than 4000 fields\): connections unknown/ },
                what => 'refusal logged'),
   'a gateway\'s report hash beyond the bound: connections unknown, logged');
$r->del('scaleset:{web}:health:gw9');
ok($t->wait_for(sub { substr($t->log('scaler'), $off) =~ /gateway reports read again/ },
                what => 'recovery logged'), 'and read again once it is gone');

$t->done;
