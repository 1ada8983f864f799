#!/usr/bin/perl
# bench/ holds the benchmarks, bench/lib/ their helpers: every script in
# bench/ but the runner (run.sh) is a benchmark with one "# bench-section:
# NAME" line, its NAME unique and marked in docs/benchmarks.md (where
# bench/run.sh writes its results); nothing in bench/lib/ is one.  Every
# script compiles (perl -c, bash -n) and every bench/ file a script or
# helper names exists, so a helper that moves cannot leave a benchmark
# behind that only `make bench` would find broken.  Starts no server.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new;
my $root = $t->root;
chdir $root or die "chdir $root: $!";

my @top = sort grep { !m{/run\.sh$} } glob('bench/*.sh'), glob('bench/*.pl');
my @lib = sort grep { -f } glob('bench/lib/*'), glob('bench/lib/*/*');
ok(@top >= 5, scalar(@top) . ' benchmarks in bench/');

my $doc = $t->read_file("$root/docs/benchmarks.md");
my %seen;
for my $f (@top) {
    my @names = $t->read_file("$root/$f") =~ /^# bench-section: ([a-z0-9-]+)/mg;
    is(scalar @names, 1, "$f has one bench-section line");
    next unless @names;
    ok(!$seen{$names[0]}++, "$f: section $names[0] is unique");
    like($doc, qr/<!-- bench:\Q$names[0]\E -->.*<!-- \/bench:\Q$names[0]\E -->/s,
         "docs/benchmarks.md has the markers of $names[0]");
}
for my $f (@lib) {
    unlike($t->read_file("$root/$f"), qr/^# bench-section: /m,
           "$f is a helper, not a benchmark");
}

for my $f (@top, grep { /\.(pl|pm|sh)$/ } @lib) {
    my $cmd = $f =~ /\.sh$/ ? "bash -n '$f'"
            : $f =~ /\.pm$/ ? "perl -Ibench/lib -It/lib -c '$f'"
            : "perl -c '$f'";
    my $out = `$cmd 2>&1`;
    is($?, 0, "$f compiles") or diag $out;
}

# the bench/ files they name (not the results under build/bench/)
for my $f (@top, @lib, 'bench/run.sh') {
    my $text = $t->read_file("$root/$f") // '';
    # (bench/NAME.sh in a usage line is a placeholder)
    my %named = map { $_ => 1 } grep { !/[A-Z]/ }
                $text =~ m{(?<![\w/])(bench/[\w./-]+\.(?:sh|pl|pm|c))}g;
    ok(-e "$root/$_", "$f names $_, which exists") for sort keys %named;
    # a Perl benchmark's helpers come from bench/lib
    if ($f =~ /\.pl$/ && $text =~ /^use Scaleset::Bench\b/m) {
        like($text, qr{^use lib\b.*"\$FindBin::Bin/lib"}m,
             "$f takes Scaleset::Bench from bench/lib");
    }
}

$t->done;
