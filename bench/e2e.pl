#!/usr/bin/perl
# End to end under load (issue 7): t/e2e_load_scale.t ROUNDS (3) times;
# the time from each scale-out decision to the first request served by
# the instance it created, a dead instance's time out of the gateway, the
# clients' median latency overloaded and after the scale-out, and the
# failed requests.  Prints a markdown section for docs/benchmarks.md.
# bench-section: e2e
#   [ROUNDS=3] perl bench/e2e.pl

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median prove_runs row);

my $rounds = $ENV{ROUNDS} // 3;
my @runs = prove_runs('e2e_load_scale.t', $rounds);
my (@med, @max, @out, @peak, @calm, @ok, @failed);
for my $o (@runs) {
    my ($m, $x) = $o =~ /decision -> first request served: median ([\d.]+) s, max ([\d.]+) s/
        or die "bench: no decision times in:\n$o";
    push @med, $m;
    push @max, $x;
    push @out, $o =~ /within 2 s \(([\d.]+) s\)/ ? $1 : 'nan';
    my ($p, $c) = $o =~ /median latency: (\d+) ms at the peak on 1 instance, (\d+) ms on 5/;
    push @peak, $p // 'nan';
    push @calm, $c // 'nan';
    my ($ok, $f) = $o =~ /requests: (\d+) ok, (\d+) failed/;
    push @ok, $ok // 0;
    push @failed, $f // 'nan';
}
my $m = machine();
print <<"EOF2";
### End to end (bench/e2e.pl)

Machine: $m.
`t/e2e_load_scale.t`, every part real: Redis, nginx with the module
(health checks every 500 ms, `fails=1`), Prometheus scraping every
500 ms, the scaler on `test:///default` at `interval: 250ms` with a
requests-per-instance rule, tools/guestsim (10 ms of one worker per
request: 100 req/s per instance at most), tools/loadgen (open loop) at
20 → 160 → 8 req/s through the gateway; $rounds runs.

| measurement | median | all runs |
|---|---|---|
EOF2
row('decision → first request served by a new instance (median of the 4)', '%.2f s', @med);
row('the slowest of the 4', '%.2f s', @max);
row('a dead instance out of the gateway', '%.2f s', @out);
row('clients\' median latency at its peak, 1 instance at 160 req/s', '%.0f ms', @peak);
row('clients\' median latency on 5 instances', '%.0f ms', @calm);
row('requests answered over the run', '%d', @ok);
row('failed client requests', '%d', @failed);
print "\nCommand: `ROUNDS=$rounds perl bench/e2e.pl`\n";
