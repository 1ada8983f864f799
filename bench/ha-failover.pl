#!/usr/bin/perl
# Leader failover (issue 18): two scalers with ha on one Redis and one
# hypervisor (libvirt's test driver served by a libvirtd of the bench's),
# a pool of 2 instances; the leader is killed (SIGKILL) ROUNDS (5) times,
# for a lease of 2 s and of 10 s (the default), and stopped with SIGTERM
# (it releases the lease) as many times: the time from the signal to the
# other scaler taking the lease and to the end of its first pass as leader
# (GET /v1/ha: leader, ready, passes >= 1), polled every 10 ms.  The
# killed one is started again as the standby before the next round.
# Prints a markdown section for docs/benchmarks.md.
# bench-section: ha-failover
#   [ROUNDS=5] perl bench/ha-failover.pl

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

my $rounds = $ENV{ROUNDS} // 5;
my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $redis = $t->redis;
my $lv = Scaleset::Libvirtd->start_test_driver($t, name => 'lvt');

sub scaler {
    my ($name, $lease) = @_;
    return Scaleset::Scaler->new($t, name => $name, api_port => "api_$name",
        interval => '200ms', top_extra => "ha: { lease: ${lease}s }\n",
        pools => [ { name => 'web', capacity => [0, 10, 2],
                     zones => [['z1', $lv->uri]], cidr => '127.0.80.0/24' } ]);
}
sub ha {
    my ($s) = @_;
    my ($c, $b) = $s->api('GET', '/v1/ha');
    return $c == 200 && ref $b ? $b : {};
}
sub wait_until {
    my ($what, $timeout, $cond) = @_;
    my $end = time + $timeout;
    until ($cond->()) {
        die "ha bench: timed out waiting for $what\n" if time > $end;
        sleep 0.01;
    }
    return time;
}

my %res;
for my $lease (2, 10) {
    $redis->flushall;
    my %s = (a => scaler('a', $lease), b => scaler('b', $lease));
    $s{a}->start;
    wait_until('a leads', 20, sub { ha($s{a})->{ready} });
    $s{b}->start;
    wait_until('b stands by', 20, sub { ha($s{b})->{leader_url} && !ha($s{b})->{leader} });
    wait_until('2 members', 20, sub { $redis->hlen('scaleset:{web}:members') == 2 });
    my ($leader, $standby) = ('a', 'b');
    for my $how (qw(KILL TERM)) {
        for my $r (1 .. $rounds) {
            # a random moment between two renewals
            sleep(rand($lease / 3));
            my $t0 = time;
            $t->stop($leader, signal => $how, grace => 5);
            my $taken = wait_until("$standby takes over", 4 * $lease,
                                   sub { ha($s{$standby})->{leader} }) - $t0;
            my $pass = wait_until("the first pass of $standby", 4 * $lease, sub {
                my $h = ha($s{$standby});
                $h->{leader} && $h->{ready} && $h->{passes} >= 1 }) - $t0;
            push @{ $res{$lease}{$how}{taken} }, $taken;
            push @{ $res{$lease}{$how}{pass} }, $pass;
            printf STDERR "lease %ds, %s: lease taken %.3fs, first pass %.3fs\n",
                          $lease, $how, $taken, $pass;
            $s{$leader}->start;
            my $l = $leader;
            wait_until("$l stands by", 20, sub { my $h = ha($s{$l});
                $h->{leader_url} && !$h->{leader} });
            ($leader, $standby) = ($standby, $leader);
        }
    }
    $t->stop($_) for qw(a b);
}

my $m = machine();
print <<"EOF2";
### Leader failover (bench/ha-failover.pl)

Machine: $m.
Two scalers with `ha` on one redis-server and one libvirtd (libvirt's
test driver served to both), a pool of 2 instances, `interval: 200ms`;
the leader stopped $rounds times per row (alternating which one leads), at
a random moment between two renewals; measured from the signal to the
other's `GET /v1/ha` saying it leads, and to the end of its first pass as
leader (it reads the stored capacities, observes, plans and acts), polled
every 10 ms.

| measurement | median | all runs |
|---|---|---|
EOF2
for my $lease (2, 10) {
    row("lease ${lease}s, `kill -9`: the lease taken", '%.3f s', @{ $res{$lease}{KILL}{taken} });
    row("lease ${lease}s, `kill -9`: first pass of the new leader", '%.3f s', @{ $res{$lease}{KILL}{pass} });
    row("lease ${lease}s, SIGTERM (lease released): first pass of the new leader", '%.3f s', @{ $res{$lease}{TERM}{pass} });
}
print <<"EOF2";

Bound (issue 18): within 2 × lease of the leader's death. After a
`kill -9` the lease lives until its last renewal's lease runs out (at
most one lease after the kill, at least two thirds of one: renewals come
every third), and the standby asks every third: so the takeover lands
between ⅔ and 1⅓ leases after the kill. A SIGTERM deletes the lease: the
standby's next attempt (at most a third of a lease away) takes it.

Command: `ROUNDS=$rounds perl bench/ha-failover.pl`
EOF2
$t->stop_all if $t->can("stop_all");
