#!/usr/bin/perl
# scaler: scale 0 -> 5 -> 2 through the API on test:///default over two
# zones; members appear balanced over the zones, drain, and disappear in
# Redis; every write bumps the epoch.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $redis = $t->redis;
# two zones, template version 3, readiness none, drain_timeout 5s
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
    version => 3, capacity => [0, 10, 0] } ]);
$s->start;

my $members = sub { $redis->hgetall('scaleset:{web}:members') };
my $json = JSON::PP->new;

sub put_capacity {
    my ($n) = @_;
    return $t->http('PUT', 'api', '/v1/pools/web/capacity',
                    body => qq({"capacity":$n}));
}

my ($code, $body) = put_capacity(5);
is($code, 200, 'capacity 5 accepted') or diag $body;
$t->wait_for(sub { my %m = $members->(); keys %m == 5 }, timeout => 10,
             what => '5 members');
my %m = $members->();
is_deeply([sort keys %m], [map { sprintf 'web-%06d', $_ } 1 .. 5],
          'ids web-000001..5');
my %zones;
for (values %m) { $zones{$1}++ if /zone=(\S+)/ }
is_deeply(\%zones, { z1 => 3, z2 => 2 }, 'placed over both zones (3/2)');
my %addr = map { (split ' ', $_)[0] => 1 } values %m;
is(scalar keys %addr, 5, 'five distinct addresses');
ok((grep { !/^127\.0\.1\.\d+:8080 / } values %m) == 0,
   'addresses from the CIDR with the port');
ok((grep { !/version=3/ } values %m) == 0, 'version in the record');
cmp_ok($redis->get('scaleset:{web}:epoch'), '>=', 5, 'epoch bumped per write');

($code, $body) = $t->http_get('api', '/v1/pools/web');
my $p = $json->decode($body);
is($p->{running}, 5, 'API shows 5 running');
is_deeply($p->{zones}, { z1 => 3, z2 => 2 }, 'API zones');

# a gateway still reports a connection on every member: scale-in drains
# and waits for the count to reach zero
my $hkey = 'scaleset:{web}:health:gw1';
my $now = int(time * 1000);
$redis->hset($hkey, $_, "up conns=1 fails=0 checked=$now") for keys %m;

($code) = put_capacity(2);
is($code, 200, 'capacity 2 accepted');
$t->wait_for(sub { my %x = $members->();
                   (grep { / drain/ } values %x) == 3 }, timeout => 10,
             what => '3 members draining');
%m = $members->();
my @draining = sort grep { $m{$_} =~ / drain/ } keys %m;
is_deeply(\@draining, [qw(web-000003 web-000004 web-000005)],
          'default policy drains balanced zones, highest ids');
select undef, undef, undef, 1;
%m = $members->();
is(scalar keys %m, 5, 'draining members stay while a gateway reports conns');

$redis->hset($hkey, $_, "up conns=0 fails=0 checked=$now") for @draining;
$t->wait_for(sub { my %x = $members->(); keys %x == 2 }, timeout => 10,
             what => '2 members');
%m = $members->();
is_deeply([sort keys %m], [qw(web-000001 web-000002)], 'two remain');
%zones = ();
for (values %m) { $zones{$1}++ if /zone=(\S+)/ }
is_deeply(\%zones, { z1 => 1, z2 => 1 }, 'one per zone');

($code, $body) = $t->http_get('api', '/v1/pools/web');
$p = $json->decode($body);
is(scalar @{ $p->{instances_list} }, 2, 'domains deleted');
like($t->log('scaler'), qr/pool=web id=web-000005 deleted/,
     'log line names pool and id');

$t->done;
