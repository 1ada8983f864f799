#!/usr/bin/perl
# scaler: scale_in_policy oldest and newest on a real scaler, one pool
# each, two zones: the chosen instances drain in the order the policy names.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my @z = (['z1', 'test:///default'], ['z2', 'test:///default']);
my $s = Scaleset::Scaler->new($t, pools => [
    { name => 'old', zones => \@z, capacity => [0, 9, 4], cidr => '127.0.6.0/24',
      extra => "    scale_in_policy: oldest\n" },
    { name => 'new', zones => \@z, capacity => [0, 9, 4], cidr => '127.0.7.0/24',
      extra => "    scale_in_policy: newest\n" } ]);
$s->start;
for my $p (qw(old new)) {
    $t->wait_for(sub { keys %{ $s->members($p) } == 4 }, timeout => 10,
                 what => "4 members in $p");
    my ($code) = $s->api('PUT', "/v1/pools/$p/capacity", { capacity => 2 });
    is($code, 200, "$p: capacity 2");
}
for my $p (qw(old new)) {
    $t->wait_for(sub { keys %{ $s->members($p) } == 2 }, timeout => 10,
                 what => "2 members in $p");
}
is_deeply([sort keys %{ $s->members('old') }], [qw(old-000003 old-000004)],
          'oldest: the first two went');
is_deeply([sort keys %{ $s->members('new') }], [qw(new-000001 new-000002)],
          'newest: the last two went');
my %zones;
$zones{$_}++ for map { /zone=(\S+)/ } values %{ $s->members('old') };
is_deeply(\%zones, { z1 => 1, z2 => 1 }, 'zones stay balanced');

$t->done;
