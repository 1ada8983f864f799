#!/usr/bin/perl
# Sentinel failover, scaler-driven (issue 18): t/scaler_sentinel.t ROUNDS
# (5) times: a master, a replica, three sentinels (down-after 1000 ms,
# failover-timeout 5000 ms), the scaler and a gateway on them, 100 req/s
# through the gateway; the master killed; the scaler's capacity raised
# through its API as soon as the sentinels promoted the replica (retried
# until stored), the time to the new instance up at the gateway.  Prints
# a markdown section for docs/benchmarks.md.
# bench-section: sentinel-failover
#   [ROUNDS=5] perl bench/sentinel-failover.pl

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median prove_runs row);

my $rounds = $ENV{ROUNDS} // 5;
my @runs = prove_runs('scaler_sentinel.t', $rounds);
my (@promoted, @change, @after, @ok, @failed);
for my $o (@runs) {
    my ($p) = $o =~ /master killed -> replica promoted: ([\d.]+)s/
        or die "bench: no promotion time in:\n$o";
    my ($c, $a) = $o =~ /master killed -> scaler-driven change up at the gateway: ([\d.]+)s \(([\d.]+)s after the write\)/
        or die "bench: no change time in:\n$o";
    my ($ok) = $o =~ /no failed request through the failover \((\d+) answered\)/;
    push @promoted, $p;
    push @change, $c;
    push @after, $a * 1000;
    push @ok, $ok // 0;
    push @failed, $o =~ /^ok \d+ - no failed request/m ? 0 : 1;
}
my $m = machine();
print <<"EOF2";
### Sentinel failover through the scaler (bench/sentinel-failover.pl)

Machine: $m.
`t/scaler_sentinel.t`: one master, one replica, three sentinels
(`down-after-milliseconds 1000`, `failover-timeout 5000`), the scaler
(`redis.sentinel`, `interval: 200ms`) and a gateway (`scaleset_redis
sentinel=`) on them, tools/guestsim serving the instances, 100 req/s
through the gateway; the master killed with SIGKILL; the scaler's
capacity raised through its API as soon as the sentinels name the
replica (the API answers 503 until the scaler has found the new master,
and is asked again every 200 ms); $rounds runs.

| measurement | median | all runs |
|---|---|---|
EOF2
row('master killed → replica promoted (the sentinels)', '%.1f s', @promoted);
row('master killed → the scaler\'s new instance up at the gateway', '%.2f s', @change);
row('the capacity stored → that instance up at the gateway (create, register on the new master, gateway check)', '%.0f ms', @after);
row('requests answered through the failover', '%d', @ok);
row('runs with a failed request', '%d', @failed);
print "\nCommand: `ROUNDS=$rounds perl bench/sentinel-failover.pl`\n";
