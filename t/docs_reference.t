#!/usr/bin/perl
# docs_reference.t: every nginx directive of the module, every parameter
# keyword its handler parses and every YAML key the scaler accepts is
# documented, with its default, in docs/.  The names come from the C
# sources (no list of names here), so a new directive, parameter or key
# without its documentation fails this test.  No servers are started.
#
# What counts as documented:
#
#   directive D   docs/gateway.md or docs/health-checks.md has, nginx style,
#                 a "Syntax: D ..." line followed (without a blank line) by
#                 "Default: X" and "Context: Y" lines, X and Y not empty.
#   parameter P   (a keyword the handler of D matches, "name=", "name:"
#                 as in unix:PATH, or a bare word) appears in D's Syntax
#                 lines (followed by its value) and, in D's section
#                 (from its Syntax line to the next heading), either in
#                 the first cell of a table row whose "default" column is
#                 not empty, as `P...` (`P` for a bare word), or as a
#                 list item "- `P...`" that says "default" or "required".
#   config key K  (a full path: `pools[].template.volume.pool`, from the
#                 cf_key_t tables of scaler/config/config*.c) is the
#                 first cell of a table row in docs/scaler.md or
#                 docs/autoscale.md whose "default" column is not empty
#                 (nor only a dash).
#                 The cell names a path in backticks; further backticked
#                 words in it are siblings (`pools[].capacity.min` / `max`
#                 names pools[].capacity.max too); a path may be written
#                 relative to an element of a top-level list
#                 (`rules[].name` for pools[].rules[].name).  Only leaf
#                 keys (those without keys below them) need a row.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Sources qw(directives config_keys leaf_keys row_paths key_forms slurp);

my $root = "$FindBin::Bin/..";

# ---------------------------------------------------------------- sources
# (the readers are in t/lib/Scaleset/Sources.pm, shared with t/man_pages.t)

my %directive_params = %{ directives(\&ok, $root) };
my @directives = sort keys %directive_params;
my @params = map { my $d = $_; map { [$d, $_] } @{ $directive_params{$d} } } @directives;
cmp_ok(scalar @directives, '>=', 3, 'directives found: ' . join(' ', @directives));
cmp_ok(scalar @params, '>=', 3, 'directive parameters found: '
       . join(' ', map { "$_->[0]:$_->[1]" } @params));

my @all_keys = config_keys(\&ok, $root);
my @leaf_keys = leaf_keys(@all_keys);
cmp_ok(scalar @leaf_keys, '>=', 3, scalar(@all_keys) . ' config keys found, '
       . scalar(@leaf_keys) . ' of them leaves: ' . join(' ', @leaf_keys));

# ---------------------------------------------------------------- docs

sub doc_lines { [ split /\n/, slurp("$root/docs/$_[0]") ] }

# table rows with a default column: { file, first => cell, default => cell }
sub table_rows {
    my ($file, $lines) = @_;
    my @rows;
    for (my $i = 0; $i < @$lines; $i++) {
        next unless $lines->[$i] =~ /^\s*\|/ && ($lines->[$i + 1] // '') =~ /^\s*\|[\s:|-]+$/;
        my @head = cells($lines->[$i]);
        my ($dcol) = grep { $head[$_] =~ /^default$/i } 0 .. $#head;
        my $j = $i + 2;
        for (; $j < @$lines && $lines->[$j] =~ /^\s*\|/; $j++) {
            next unless defined $dcol;
            my @c = cells($lines->[$j]);
            push @rows, { file => $file, line => $j, first => $c[0] // '',
                          default => $c[$dcol] // '' };
        }
        $i = $j - 1;
    }
    return @rows;
}

sub cells {
    my ($l) = @_;
    $l =~ s/\\\|/\x00/g;                      # escaped pipes stay in the cell
    $l =~ s/^\s*\|//;
    $l =~ s/\|\s*$//;
    return map { (my $c = $_) =~ s/\x00/|/g; $c =~ s/^\s+|\s+$//g; $c } split /\|/, $l, -1;
}

sub states_default { $_[0] =~ /\S/ && $_[0] !~ /^[\s\x{2014}-]*$/ }

# directives and parameters

my %gwdocs = map { $_ => doc_lines($_) } qw(gateway.md health-checks.md);
for my $d (@directives) {
    my ($file, $at);
    for my $f (sort keys %gwdocs) {
        my $l = $gwdocs{$f};
        for my $i (0 .. $#$l) {
            if ($l->[$i] =~ /^\s*Syntax:\s+\Q$d\E(?:[\s;]|$)/) { ($file, $at) = ($f, $i); last }
        }
        last if defined $at;
    }
    ok(defined $at, "directive $d has a \"Syntax: $d\" line in docs/gateway.md or docs/health-checks.md")
        or do { fail("parameter $d $_ is documented") for @{ $directive_params{$d} }; next };
    my $l = $gwdocs{$file};
    my ($syntax, $default, $context) = ('', undef, undef);
    my $i = $at;
    for (; $i < @$l && $l->[$i] =~ /\S/; $i++) {
        if    ($l->[$i] =~ /^\s*Default:\s*(.*)$/) { $default = $1 }
        elsif ($l->[$i] =~ /^\s*Context:\s*(.*)$/) { $context = $1 }
        elsif (!defined $default) { $syntax .= " $l->[$i]" }
    }
    ok(defined $default && $default =~ /\S/, "directive $d: Default: line in $file");
    ok(defined $context && $context =~ /\S/, "directive $d: Context: line in $file");

    # its section: from the Syntax line to the next heading
    my $end = $at + 1;
    $end++ while $end < @$l && $l->[$end] !~ /^#/;
    my @sec = @{$l}[$at .. $end - 1];
    my @rows = table_rows($file, \@sec);
    for my $p (@{ $directive_params{$d} }) {
        my $tok = $p =~ /[=:]$/ ? qr/`\Q$p\E[^`]*`/ : qr/`\Q$p\E`/;
        my $word = $p =~ /[=:]$/ ? qr/(?<![\w-])\Q$p\E/ : qr/(?<![\w-])\Q$p\E(?![\w-])/;
        like($syntax, $word, "parameter $d $p is in the Syntax of $d ($file)");
        my $row = grep { $_->{first} =~ $tok && states_default($_->{default}) } @rows;
        my $item = 0;
        for my $k (0 .. $#sec) {
            next unless $sec[$k] =~ /^\s*-\s+$tok/;
            my $text = $sec[$k];
            for (my $n = $k + 1; $n < @sec && $sec[$n] =~ /\S/ && $sec[$n] !~ /^\s*-\s/; $n++) {
                $text .= " $sec[$n]";
            }
            $item = 1 if $text =~ /\bdefault\b|\brequired\b/i;
        }
        ok($row || $item, "parameter $d $p is documented with its default in the section of $d ($file)");
    }
}

# config keys

my @keyrows = map { table_rows($_, doc_lines($_)) } qw(scaler.md autoscale.md);
my %documented;      # path as written (or sibling-expanded) => "file:line"
for my $r (@keyrows) {
    next unless states_default($r->{default});
    for my $p (row_paths($r->{first} =~ /`([^`]+)`/g)) {
        $documented{$p} //= "$r->{file}:" . ($r->{line} + 1);
    }
}
for my $k (@leaf_keys) {
    my ($where) = grep { defined } map { $documented{$_} } key_forms($k);
    ok(defined $where, "config key $k has a row with a default in docs/scaler.md or docs/autoscale.md"
                       . (defined $where ? " ($where)" : ''));
}

diag(sprintf "%d directives, %d parameters, %d config keys (%d leaves)",
     scalar @directives, scalar @params, scalar @all_keys, scalar @leaf_keys)
    if $ENV{TEST_VERBOSE};

done_testing();
