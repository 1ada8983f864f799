#!/usr/bin/perl
# drain_timeout counts from when the drain began, across a reload: the
# start is recorded in Redis (PREFIX{POOL}:draining) with the drain, so a
# SIGHUP (new state, same domains) or a restart does not start it over.
# A gateway report holding connections keeps the drain waiting.

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
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    capacity => [0, 4, 2], cidr => '127.0.7.0/24', drain_timeout => '3s' } ]);
$s->start;
ok($t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
                what => '2 members'), 'two members');

# a gateway reports open connections on both
my $now = int(time * 1000);
$r->hset('scaleset:{web}:health:gw1', $_, "up conns=5 fails=0 checked=$now")
    for keys %{ $s->members('web') };

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
my ($drained, $t_drain);
ok($t->wait_for(sub {
    my $m = $s->members('web');
    ($drained) = grep { $m->{$_} =~ /\bdrain\b/ } keys %$m;
    $t_drain = time if $drained;
    $drained;
}, timeout => 5, interval => 0.05, what => 'drain'), 'one member drains');
my $since = $r->hget('scaleset:{web}:draining', $drained);
ok($since && abs($since / 1000 - $t_drain) < 1,
   'the drain start is recorded in Redis');

sleep 1.5;
kill 'HUP', $t->{servers}{scaler}{pid};
ok($t->wait_for(sub { $t->log('scaler') =~ /configuration reloaded/ },
                timeout => 5), 'reloaded mid-drain');
ok($t->wait_for(sub { !exists $s->members('web')->{$drained} },
                timeout => 10, interval => 0.05, what => 'deleted'),
   'deleted at drain_timeout');
my $dt = time - $t_drain;
cmp_ok($dt, '>=', 2.5, sprintf 'not before drain_timeout (%.1f s)', $dt);
cmp_ok($dt, '<', 4.3, 'counted from the drain, not from the reload');
like($t->log('scaler'), qr/id=\Q$drained\E deleted \(drain_timeout[;)]/,
     'logged as a drain_timeout');
# the reloaded state starts from what the running one knew of the
# instances: the API lists them meanwhile, nothing is "found" again
unlike($t->log('scaler'), qr/found domain/,
       'a reload keeps the instances it knew (no domain found again)');
ok(!defined $r->hget('scaleset:{web}:draining', $drained),
   'the drain record goes with the member');
$t->done;
