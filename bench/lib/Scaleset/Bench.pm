package Scaleset::Bench;

# Helpers for the Perl benchmarks (bench/*.pl: use lib "$FindBin::Bin/lib";
# use Scaleset::Bench qw(...)): the machine line, medians, table rows, and
# a test of t/ run ROUNDS times to collect what it reports (its diag/note
# lines), and long requests in processes of their own.

use strict;
use warnings;
use FindBin;
use Exporter 'import';

our @EXPORT_OK = qw(long_outcome long_request machine median prove_runs row);

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

# a request in a process of its own, spawned as NAME by the Scaleset::Test
# $t (stopped with the test's servers): METHOD URL; when it ends,
# "status seconds length last-line" in $t->dir/NAME.out
sub long_request {
    my ($t, $name, $method, $url) = @_;
    $t->spawn(name => $name, cmd => [$^X, '-MHTTP::Tiny',
        '-MTime::HiRes=time', '-e', <<'EOF',
my $t0 = time;
my $res = HTTP::Tiny->new(timeout => 300)->request($ARGV[0], $ARGV[1]);
my $body = $res->{content} // '';
my ($last) = $body =~ /([^\n]*)\n?\z/;
open my $f, '>', "$ARGV[2].tmp" or die;
printf $f "%d %.3f %d %s", $res->{status}, time - $t0, length($body),
       ($last // '') =~ /^(\S+)/ ? $1 : '-';
close $f;
rename "$ARGV[2].tmp", $ARGV[2];
EOF
        $method, $url, $t->dir . "/$name.out"]);
    return $name;
}

# (status, seconds, length, last line's first word) of long_request NAME
# once it ended (dies after $timeout seconds)
sub long_outcome {
    my ($t, $name, $timeout) = @_;
    $t->wait_for(sub { defined $t->read_file("$name.out") },
                 timeout => $timeout, what => "$name ended")
        or die "bench: $name did not end in $timeout s\n";
    return split ' ', $t->read_file("$name.out");
}

1;
