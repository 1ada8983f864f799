#!/usr/bin/perl
# scaler: a wake that a stop interrupts.  A warm instance (warm_pool size
# 1, paused, wake_timeout 60s) that no longer answers is woken by a
# scale-out; while the pass waits for its readiness, the scaler is told
# to stop (SIGTERM).  The pass gives up the wait at once: the scaler
# exits in well under wake_timeout, and the instance is not deleted as a
# failed wake (it is awake and unregistered: the next scaler's pass
# registers it once ready, or repairs it after health.grace).  Before,
# the stop waited for the whole wake_timeout (past the harness's 10 s
# grace: killed) and then deleted the instance.

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
my $dir = $t->dir;
my $gport = $t->port('guest');

my $s = Scaleset::Scaler->new($t, pools => [
    { name => 'web', readiness => 'tcp', cidr => '127.0.8.0/24',
      port => $gport, capacity => [0, 4, 0],
      extra => "    warm_pool: { size: 1, state: paused, "
             . "wake_timeout: 60s }\n" },
]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);

sub warm {
    my (undef, $j) = $s->api('GET', '/v1/pools/web/instances');
    return map { $_->{id} } grep { $_->{state} eq 'warm'
                                   && $_->{power} eq 'paused' }
           ref $j eq 'HASH' ? @{ $j->{instances} } : ();
}
my $id;
ok($t->wait_for(sub { ($id) = warm(); $id }, timeout => 15,
                what => 'a warm instance parked'), 'a warm instance, paused');
my (undef, $j) = $s->api('GET', '/v1/pools/web/instances');
my ($addr) = map { $_->{address} } grep { $_->{id} eq $id }
             @{ $j->{instances} };
$t->write_file("$ctl/$id", "dead\n");
my ($host, $port) = split /:/, $addr;
ok($t->wait_for(sub { !Scaleset::Test::port_open($port, $host) },
                timeout => 20, what => "$id not listening"),
   "$id no longer answers");

my $mark = length $t->log('scaler');
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
is($code, 200, 'capacity 1');
ok($t->wait_for(sub { substr($t->log('scaler'), $mark)
                      =~ /id=\Q$id\E woken from paused/ },
                timeout => 10, what => 'the wake'), "$id woken");
my $t0 = time;
my $st = $t->stop('scaler');
my $took = time - $t0;
cmp_ok($took, '<', 8, sprintf('the scaler stopped in %.1f s, not after '
       . 'wake_timeout (60 s)', $took));
my $log = substr($t->log('scaler'), $mark);
unlike($log, qr/id=\Q$id\E (?:wake failed|deleted)/,
       'the interrupted wake is not a failure: not deleted');
ok(!exists $s->members('web')->{$id}, 'nor registered');

$t->done;
