#!/usr/bin/perl
# Rolling upgrade benchmark on the test driver: N instances (10, 100) on
# two zones behind a real gateway (nginx with the module, health checks
# every 300 ms) with tools/guestsim serving them; a new template version
# replaced by the scaler's rolling upgrade (max_batch_percent 20, surge)
# and, side by side on the same pool, by hand: `scalesetctl delete POOL
# ID` one instance at a time, each time waiting until the gateway has N
# members up again (what a careful operator does).  For each: the time
# from the change to every instance on the new version, and the fewest
# members up in the gateway meanwhile (its status page sampled every
# ~50 ms).  ROUNDS (3) rounds of each, medians.
# bench-section: upgrade
#   [ROUNDS=3] perl bench/upgrade.pl [N ...]

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::RealVM;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

my @sizes = map { $_ + 0 } @ARGV ? @ARGV : (10, 100);
my $rounds = $ENV{ROUNDS} // 3;
my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
$t->start_redis;
Scaleset::RealVM::start_gateway($t, 'web', workers => 2,
    check => 'interval=300ms timeout=250ms fails=1 passes=1 mandatory');
my %pool = (name => 'web', capacity => [0, 200, 0],
            zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
            cidr => '127.2.0.0/16', port => $t->port('guest'),
            readiness => 'tcp', drain_timeout => '5s', version => 1);
sub policy {
    my ($mode) = @_;
    $pool{extra} = "    health: { grace: 30s }\n"
                 . "    upgrade: { mode: $mode, max_batch_percent: 20 }\n";
}
policy('rolling');
my $s = Scaleset::Scaler->new($t, interval => '200ms', pools => [\%pool]);
$s->start;
mkdir $t->dir . '/guestsim';
$s->guestsim($t->dir . '/guestsim');
my $ctl = $t->bin('scalesetctl');
my $api = 'http://127.0.0.1:' . $t->port('api');

my ($floor, $at_floor);
sub up {            # members up in the gateway: { id => version }
    my $st = $t->gateway_status('http', '/scaleset/status');
    my $m = $st->{pools}{web}{members} or return undef;
    my %up = map { $_->{id} => $_->{version} }
             grep { $_->{state} eq 'up' } @$m;
    if (!defined $floor || keys %up < $floor) {
        $floor = keys %up;
        $at_floor = join ' ', map { "$_->{id}:$_->{state}:$_->{version}" }
                              grep { $_->{state} ne 'up' } @$m;
    }
    return \%up;
}
# until every one of n members up is on version v (sampling)
sub all_on {
    my ($n, $v, $timeout) = @_;
    return $t->wait_for(sub { my $u = up() // return 0;
                              keys %$u == $n && !grep { $_ ne $v } values %$u },
                        timeout => $timeout, interval => 0.05,
                        what => "$n up on version $v");
}
sub reload {
    my ($mode) = @_;
    $pool{version}++;
    policy($mode);
    $s->write_config;
    my $n = () = $t->log('scaler') =~ /configuration reloaded/g;
    $t->signal('scaler', 'HUP');
    $t->wait_for(sub { (() = $t->log('scaler') =~ /configuration reloaded/g)
                       > $n }, what => 'reload');
}

my (%roll, %roll_floor, %hand, %hand_floor, %batches);
for my $n (@sizes) {
    my ($code, $res) = $s->api('PUT', '/v1/pools/web/capacity',
                               { capacity => $n });
    die "bench: capacity $n: $code " . (ref $res ? $res->{error} : $res)
        . "\n" if $code != 200;
    all_on($n, $pool{version}, 120) or die "bench: $n not up\n";
    for my $r (1 .. $rounds) {
        # the scaler's rolling upgrade
        $floor = undef;
        my $t0 = time;
        reload('rolling');
        all_on($n, $pool{version}, 600) or die "bench: rolling $n failed\n";
        push @{ $roll{$n} }, time - $t0;
        push @{ $roll_floor{$n} }, $floor;
        print STDERR "rolling floor $floor; not up then: $at_floor\n"
            if $ENV{BENCH_DEBUG};
        my (undef, $u) = $s->api('GET', '/v1/pools/web/upgrade');
        push @{ $batches{$n} }, $u->{batches};

        # by hand, one delete at a time
        reload('manual');
        $floor = undef;
        $t0 = time;
        my $old = up();
        for my $id (sort keys %$old) {
            my $out = `$ctl --api $api delete web $id 2>&1`;
            die "bench: delete $id: $out" if $? != 0;
            $t->wait_for(sub { my $u = up() // return 0;
                               keys %$u == $n && !$u->{$id} },
                         timeout => 60, interval => 0.05,
                         what => "$id replaced") or die "bench: $id\n";
        }
        all_on($n, $pool{version}, 60) or die "bench: by hand $n\n";
        push @{ $hand{$n} }, time - $t0;
        push @{ $hand_floor{$n} }, $floor;
        printf STDERR "%d instances, round %d: rolling %.1f s (floor %d, "
            . "%d batches), by hand %.1f s (floor %d)\n", $n, $r,
            $roll{$n}[-1], $roll_floor{$n}[-1], $batches{$n}[-1],
            $hand{$n}[-1], $hand_floor{$n}[-1];
    }
}

my $machine = machine();
print <<"EOF";
### Rolling upgrade (bench/upgrade.pl)

Machine: $machine.
A real redis-server, nginx with the module (health checks every 300 ms,
1 pass to be up), the scaler on `test:///default` with two zones
(`interval: 200ms`, `readiness: tcp`) and `tools/guestsim` serving every
instance; no client load (drains end at once). A new template version
(SIGHUP) is rolled out by the scaler (`upgrade: { max_batch_percent: 20 }`,
surge, one zone at a time), then, on the same pool, the next version by
hand (`mode: manual`, then `scalesetctl delete web ID` for each instance
in turn, waiting each time until the gateway has N members up again).
Time: from the change to every member up in the gateway on the new
version. Floor: the fewest members up in the gateway meanwhile (its
status page sampled every ~50 ms). $rounds rounds of each, alternating.

| measurement | median | all runs |
|---|---|---|
EOF
for my $n (@sizes) {
    row("$n instances, rolling upgrade: time", '%.1f s', @{ $roll{$n} });
    row("$n instances, rolling upgrade: fewest members up", '%d',
        @{ $roll_floor{$n} });
    row("$n instances, rolling upgrade: batches", '%d', @{ $batches{$n} });
    row("$n instances, by hand (delete one at a time): time", '%.1f s',
        @{ $hand{$n} });
    row("$n instances, by hand: fewest members up", '%d',
        @{ $hand_floor{$n} });
    printf "| %d instances: by hand / rolling | **%.1f×** | |\n", $n,
           median(@{ $hand{$n} }) / median(@{ $roll{$n} });
}
printf "\nCommand: `ROUNDS=%d perl bench/upgrade.pl %s`\n", $rounds,
       join(' ', @sizes);
$t->stop('scaler');
