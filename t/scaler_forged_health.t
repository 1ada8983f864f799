#!/usr/bin/perl
# Redis lying about connections: a health record with a forged conns
# (2^63 - 1, which a signed sum with a real gateway's conns=5 overflows
# to a negative number, whichever order SCAN returns them in; the
# issue's 2^64 - 100 depends on that order and is in the codec's unit
# test t/unit/test_shared_record.c and in t/scaler_redis_input.t) must
# not end a drain: the forged record is refused by
# the codec (out of range), the real connections keep the instance
# draining until they reach 0; records at the codec's bound (2^32 - 1) are
# accepted and counted; connections that cannot be known (more than 1024
# health keys) hold the drain.  Real Redis, real scaler.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(time sleep);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $r = $t->redis;
my $s = Scaleset::Scaler->new($t, interval => '100ms', pools => [
    { name => 'web', capacity => [0, 4, 2], cidr => '127.0.8.0/24',
      drain_timeout => '60s',
      # a gateway whose key went stops counting 1 s later
      extra => "    drain: { gateway_ttl: 1s }\n" } ]);
$s->start;
ok($t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
                what => '2 members'), 'two members');
my ($id) = sort { $b cmp $a } keys %{ $s->members('web') };   # drained first

# a report now (at=: made after the drain about to begin)
sub now { my $ms = int(time * 1000) + 500; "checked=$ms at=$ms" }

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
is($code, 200, 'capacity 2 -> 1');
ok($t->wait_for(sub { ($s->members('web')->{$id} // '') =~ /\bdrain\b/ },
                timeout => 5, what => 'drain'), "$id drains");
$r->hset('scaleset:{web}:health:gw1', $id, 'up conns=5 fails=0 ' . now());
$r->hset('scaleset:{web}:health:evil', $id,
         'up conns=9223372036854775807 fails=0 ' . now());

# many passes: the forged record never makes the connections look gone
sleep 2;
ok(exists $s->members('web')->{$id}, 'still a member after 2 s of passes');
like($s->members('web')->{$id}, qr/\bdrain\b/, 'still draining');
unlike($t->log('scaler'), qr/id=\Q$id\E deleted/, 'not deleted');

# records at the codec's bound are accepted and counted: they hold the
# drain without the real gateway
$r->hset("scaleset:{web}:health:big$_", $id,
         'up conns=4294967295 fails=0 ' . now()) for 1 .. 2;
$r->hset('scaleset:{web}:health:gw1', $id, 'up conns=0 fails=0 ' . now());
sleep 1;
ok(exists $s->members('web')->{$id}, 'two gateways at the bound hold it');

# more health keys than any real set of gateways: the connections are
# unknown, which holds the drain (never counts as zero); made before the
# big ones go, so that no pass sees only zeros
$r->hset("scaleset:{web}:health:junk$_", 'nobody', 'x', sub {}) for 1 .. 1100;
$r->wait_all_responses;
$r->del("scaleset:{web}:health:big$_") for 1 .. 2;
ok($t->wait_for(sub { $t->log('scaler') =~ /more than 1024 keys/ },
                timeout => 5, what => 'too many keys logged'),
   'too many health keys: logged');
sleep 1;
ok(exists $s->members('web')->{$id}, 'unknown connections hold the drain');
$r->del(map { "scaleset:{web}:health:junk$_" } 1 .. 1100);

# a gateway key whose every record is refused says nothing about the
# connections: it holds the drain, as a gateway that does not report
sleep 1.5;
ok(exists $s->members('web')->{$id},
   'a report refused whole (evil\'s) holds the drain');
like($t->log('scaler'), qr/id=\Q$id\E draining waits: gateway evil has not reported since the drain began/,
     'and says why');

# no connections left anywhere (the forged key gone): deleted once the
# gateways gone are past drain.gateway_ttl
$r->del('scaleset:{web}:health:evil');
$r->hset('scaleset:{web}:health:gw1', $id, 'up conns=0 fails=0 ' . now());
ok($t->wait_for(sub { !exists $s->members('web')->{$id} }, timeout => 5,
                what => 'deleted'), 'deleted when the real connections end');
like($t->log('scaler'), qr/id=\Q$id\E deleted \(no active connections[;)]/,
     'for having no connections, not for a timeout');
is(scalar keys %{ $s->members('web') }, 1, 'one member left');

$t->done;
