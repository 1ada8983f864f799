#!/usr/bin/perl
# Scaler benchmark: 0 -> 1000 registered instances on test:///default and
# back to 0; RSS and CPU per reconcile pass at 1000; ROUNDS (3) rounds on
# one scaler, medians.  Prints a markdown section for docs/benchmarks.md.
# With HA_LEASE=10s the scaler runs with ha (alone: it takes the lease,
# every write fenced), for a side-by-side of the fence's cost.
# bench-section: scaler
#   [ROUNDS=3] [HA_LEASE=10s] perl bench/scaler.pl [N]

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use POSIX ();
use Scaleset::Test;
use Scaleset::Scaler;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

my $n = (shift // 1000) + 0;
my $rounds = $ENV{ROUNDS} // 3;
my $interval_ms = 200;
my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $s = Scaleset::Scaler->new($t, interval => "${interval_ms}ms",
    ($ENV{HA_LEASE} ? (top_extra => "ha: { lease: $ENV{HA_LEASE} }\n") : ()),
    pools => [ { name => 'web', cidr => '127.1.0.0/16',
    zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
    capacity => [0, 1000, 0] } ]);
my $srv = $s->start;
if ($ENV{HA_LEASE}) {
    my $t0 = time;
    until ((($s->api('GET', '/v1/ha'))[1] // {})->{ready}) {
        die "scaler bench: no lease in 20 s\n" if time - $t0 > 20;
        sleep 0.02;
    }
}
my $redis = $t->redis;
my $count = sub { $redis->hlen('scaleset:{web}:members') };

sub cpu_ticks {
    open my $fh, '<', "/proc/$srv->{pid}/stat" or return 0;
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return $f[11] + $f[12];
}
sub rss_kb {
    open my $fh, '<', "/proc/$srv->{pid}/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK());
my (@up, @down, @left, @rss, @cpu);
for my $round (1 .. $rounds) {
    my $t0 = time;
    my ($code, $res) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => $n });
    die "scaler bench: PUT capacity $n: $code " . (ref $res ? $res->{error} : $res) . "\n" if $code != 200;
    1 until $count->() == $n || (sleep(0.02), time - $t0 > 120);
    die "scaler bench: $n not reached in 120 s\n" if $count->() != $n;
    push @up, time - $t0;

    # steady state: CPU per pass over 10 s
    my ($c0, $w0) = (cpu_ticks(), time);
    sleep 10;
    my ($c1, $w1) = (cpu_ticks(), time);
    my $passes = ($w1 - $w0) * 1000 / $interval_ms;
    push @cpu, ($c1 - $c0) / $hz * 1000 / $passes;
    push @rss, rss_kb() / 1024;

    $t0 = time;
    $s->api('PUT', '/v1/pools/web/capacity', { capacity => 0 });
    1 until $count->() == 0 || (sleep(0.02), time - $t0 > 120);
    push @down, time - $t0;
    my $p;
    $t->wait_for(sub { (undef, $p) = $s->api('GET', '/v1/pools/web');
                       !$p->{instances} }, timeout => 30);
    push @left, $p->{instances};
    printf STDERR "round %d: up %.2f s, down %.2f s, RSS %.1f MiB, "
        . "CPU/pass %.1f ms\n", $round, $up[-1], $down[-1], $rss[-1], $cpu[-1];
}

my $machine = machine();
print <<"EOF2";
### Scaler (bench/scaler.pl)

Machine: $machine.
A real redis-server and the real scaler on `test:///default` with two
zones, addresses from 127.1.0.0/16, `readiness: none`, `interval:
${interval_ms}ms`; capacity set through the API, time measured until `HLEN
scaleset:{web}:members` reaches $n (every instance defined, started,
tagged and registered) and back to 0 (drained, deregistered, domains
destroyed and undefined; no gateway reports, so no drain wait). CPU per
pass: the scaler's utime+stime over 10 s at $n instances divided by the
passes in that time. $rounds rounds on one scaler.

| measurement | median | all runs |
|---|---|---|
EOF2
row("0 → $n registered", '%.2f s', @up);
row("$n → 0 (drained, deregistered, domains deleted)", '%.2f s', @down);
row('domains left after scale-in', '%d', @left);
row("RSS at $n instances", '%.1f MiB', @rss);
row("CPU per reconcile pass at $n (idle, interval $interval_ms ms)",
       '%.1f ms', @cpu);
printf "\nTarget (issue 5): under 10 s each way: %s.\n\n",
       median(@up) < 10 && median(@down) < 10 ? 'met' : '**not met**';
print "Command: `ROUNDS=$rounds perl bench/scaler.pl $n`\n";
$t->done_bench if $t->can('done_bench');
$t->stop('scaler');
