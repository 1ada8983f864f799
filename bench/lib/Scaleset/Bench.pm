package Scaleset::Bench;

# Helpers for the Perl benchmarks (bench/*.pl: use lib "$FindBin::Bin/lib";
# use Scaleset::Bench qw(...)): the machine line, medians, table rows, and
# a test of t/ run ROUNDS times to collect what it reports (its diag/note
# lines).

use strict;
use warnings;
use FindBin;
use Exporter 'import';

our @EXPORT_OK = qw(machine median prove_runs row);

my $ROOT = "$FindBin::Bin/..";     # bench/ is the script's directory

sub machine {
    my $m = `bash -c '. "$ROOT/bench/lib/bench.sh"; bench_machine'`;
    chomp $m;
    return $m;
}

sub median {
    my @s = sort { $a <=> $b } @_;
    return undef unless @s;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

# a markdown table row: | what | **median** | every run |
sub row {
    my ($what, $fmt, @v) = @_;
    printf "| %s | **$fmt** | %s |\n", $what, median(@v),
           join(', ', map { sprintf $fmt, $_ } @v);
}

# the verbose output of each of $rounds runs of t/$test (dies when a run
# fails; returns () when the test skips all)
sub prove_runs {
    my ($test, $rounds) = @_;
    my @out;
    for my $r (1 .. $rounds) {
        my $out = `cd "$ROOT" && prove -v -It/lib "t/$test" 2>&1`;
        return () if $out =~ /\.\. skipped: /;
        die "bench: run $r of t/$test failed:\n$out" if $? != 0;
        print STDERR "run $r of t/$test: ok\n";
        push @out, $out;
    }
    return @out;
}

1;
