#!/usr/bin/perl
# scaler: kill -9 in the middle of a scale-out, then restart.  The test
# driver's domains die with the process, so the restarted scaler must
# remove the members left behind, create new instances with new ids (no
# duplicates) and converge on the capacity stored in Redis.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
    capacity => [0, 50, 0] } ]);
$s->start;

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 40 });
is($code, 200, 'capacity 40');
$t->wait_for(sub { keys %{ $s->members('web') } >= 3 }, timeout => 10,
             what => 'some members');
$t->kill_server('scaler', 'KILL');
my $before = $s->members('web');
ok(keys %$before >= 3, 'members left by the killed scaler: '
   . scalar keys %$before);

$s->start;
$t->wait_for(sub { my $m = $s->members('web');
                   keys %$m == 40 && !grep { $before->{$_} } keys %$m },
             timeout => 20, what => '40 new members');
my $m = $s->members('web');
is(scalar keys %$m, 40, 'converged on the stored capacity');
ok(!(grep { $before->{$_} } keys %$m), 'no member of the dead domains left');
my %addr;
$addr{(split ' ', $_)[0]}++ for values %$m;
is(scalar keys %addr, 40, 'no address used twice');

my (undef, $p) = $s->api('GET', '/v1/pools/web');
my %inst = map { $_->{id} => 1 } @{ $p->{instances_list} };
is_deeply([sort keys %inst], [sort keys %$m],
          'every member has a domain and every domain a member');
my ($max) = sort { $b <=> $a } map { /(\d+)$/ && $1 } keys %$before;
ok(!(grep { /(\d+)$/ && $1 <= $max } keys %$m),
   'new ids continue after the old ones');
like($t->log('scaler'), qr/deregistered \(no domain\) rule=stray/, 'strays logged');

$t->done;
