#!/usr/bin/perl
# Real VMs through the scaler and the gateway (issue 8): t/realvm_scaler.t
# ROUNDS (3) times; boot-to-serving of 3 guests scaled out through the API,
# a killed guest's deregistration and replacement.  Prints a markdown
# section for docs/benchmarks.md; exits 77 when the test skips (not root,
# a system libvirtd running).
# bench-section: realvm-scaler
#   [ROUNDS=3] perl bench/realvm-scaler.pl

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median prove_runs);

my $rounds = $ENV{ROUNDS} // 3;
my @runs = prove_runs('realvm_scaler.t', $rounds);
if (!@runs) {
    print STDERR "realvm-scaler: skipped (t/realvm_scaler.t skips here)\n";
    exit 77;
}
my (@rows, @meds, @dereg, @repl);
for my $i (0 .. $#runs) {
    my $o = $runs[$i];
    my ($boots, $med) = $o =~ /boot-to-serving through the scaler and gateway: ([\d. ]+) s \(median ([\d.]+) s\)/
        or die "bench: no boot times in:\n$o";
    my ($dr) = $o =~ /kill to deregistered: ([\d.]+) s/;
    my ($rp) = $o =~ /kill to replacement serving: ([\d.]+) s/;
    push @meds, $med;
    push @dereg, $dr // 'nan';
    push @repl, $rp // 'nan';
    push @rows, sprintf "| %d | %s | %.1f s | %s s | %s s |", $i + 1,
        join(', ', split ' ', $boots), $med, $dr // '?', $rp // '?';
}
my $m = machine();
print <<"EOF2";
### Real VMs through the scaler and the gateway (bench/realvm-scaler.pl)

Machine: $m.
`t/realvm_scaler.t`: `PUT capacity 3` on the API at t = 0; "serving" = the
first page naming the instance through nginx (member registered by the
scaler, `/healthz` check passed by the gateway), polled every 100 ms; then
`kill -9` of one guest's qemu.

| run | 3 guests serving after (s) | median | kill → deregistered | → replacement serving |
|---|---|---|---|---|
EOF2
print "$_\n" for @rows;
printf "\nBoot-to-serving through the scaler: **%.1f s** (median of the runs' "
     . "medians); kill → deregistered %.1f s, → replacement serving %.1f s "
     . "(medians).\n\nCommand: `ROUNDS=$rounds perl bench/realvm-scaler.pl`\n",
     median(@meds), median(@dereg), median(@repl);
