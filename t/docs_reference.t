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
#   config key K  (a full path: `pools[].template.volume.pool`) is the
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
use Test::More;

my $root = "$FindBin::Bin/..";

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

# C text with comments blanked and every string literal replaced by "@N"
# (N indexes @$strings), so braces and quotes inside them cannot mislead
# the brace matching below.  Character literals become '_'.
sub c_mask {
    my ($src, $strings) = @_;
    $src =~ s{("(?:[^"\\\n]|\\.)*")|('(?:[^'\\\n]|\\.)*')|(/\*.*?\*/)|(//[^\n]*)}{
        if (defined $1) {
            push @$strings, substr($1, 1, -1);
            '"@' . $#$strings . '"';
        } elsif (defined $2) {
            "'_'";
        } else {
            (my $c = $&) =~ s/[^\n]/ /g;
            $c;
        }
    }gse;
    return $src;
}

# index of the brace matching the "{" at $open
sub brace_end {
    my ($text, $open) = @_;
    my $depth = 0;
    for (my $i = $open; $i < length $text; $i++) {
        my $ch = substr($text, $i, 1);
        $depth++ if $ch eq '{';
        if ($ch eq '}') {
            return $i if --$depth == 0;
        }
    }
    die "unbalanced braces at offset $open";
}

# function definitions: a name at the start of a line, its parameters,
# then "{" (K&R layout of nginx and of the scaler)
sub c_functions {
    my ($text) = @_;
    my %f;
    while ($text =~ /^([A-Za-z_]\w*)\s*\(([^;{}]*)\)\s*\{/mg) {
        my ($name, $open) = ($1, $+[0] - 1);
        my $end = brace_end($text, $open);
        $f{$name} = substr($text, $open, $end - $open + 1);
        pos($text) = $end;
    }
    return \%f;
}

sub lit { my ($strings, $tok) = @_; $tok =~ /^"\@(\d+)"$/ or die $tok; $strings->[$1] }

# ---------------------------------------------------------------- sources

# (a) directives and their parameter keywords

my (%directive_params, %param_sites);
my $param_total = 0;
{
    my (@strings, %func, @tables);
    for my $f (sort glob "$root/ngx_module/*.c") {
        my $text = c_mask(slurp($f), \@strings);
        my $fn = c_functions($text);
        $func{$_} = $fn->{$_} for keys %$fn;
        while ($text =~ /ngx_command_t\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)\bngx_null_command\b/sg) {
            push @tables, $1;
        }
    }
    ok(@tables, 'found the ngx_command_t tables in ngx_module/*.c');

    for my $t (@tables) {
        # { ngx_string("name"), FLAGS, handler, ... }
        while ($t =~ /\{\s*ngx_string\(\s*("\@\d+")\s*\)\s*,\s*[^,]+,\s*(\w+)\s*,/g) {
            my ($name, $handler) = (lit(\@strings, $1), $2);
            my $body = $func{$handler};
            ok(defined $body, "directive $name: handler $handler found")
                or next;
            my %p;
            # ngx_strncmp(value[i].data, "name=", N) / ngx_strcmp(value[i].data, "kw" or "kw=value")
            while ($body =~ /\bngx_str(?:n)?(?:case)?cmp\(\s*value\[\s*i\s*\]\.data\s*,\s*("\@\d+")/g) {
                my $s = lit(\@strings, $1);
                my $kw = $s =~ /^([^=]*=)/ ? $1 : $s;
                $p{$kw} = 1;
                $param_total++;
            }
            $directive_params{$name} = [ sort keys %p ];
        }
        # every ngx_string( of a table must have been read as a directive
        my $n = () = $t =~ /\bngx_string\(/g;
        my $m = () = $t =~ /\{\s*ngx_string\(\s*"\@\d+"\s*\)\s*,\s*[^,]+,\s*\w+\s*,/g;
        is($m, $n, 'every ngx_string() of a command table was read');
    }
}
my @directives = sort keys %directive_params;
my @params = map { my $d = $_; map { [$d, $_] } @{ $directive_params{$d} } } @directives;
cmp_ok(scalar @directives, '>=', 3, 'directives found: ' . join(' ', @directives));
cmp_ok(scalar @params, '>=', 3, 'directive parameters found: '
       . join(' ', map { "$_->[0]:$_->[1]" } @params));

# (b) scaler YAML keys, as full paths

my %keys;          # path => 1
{
    my (@strings, %func, $key_sites_total);
    for my $f (sort glob "$root/scaler/config*.c") {
        my $text = c_mask(slurp($f), \@strings);
        my $fn = c_functions($text);
        $func{$_} = $fn->{$_} for keys %$fn;
        $key_sites_total += () = $text =~ /\bKEY\(/g;
    }
    cmp_ok($key_sites_total, '>=', 3, "KEY( used $key_sites_total times in scaler/config*.c");

    # per function: KEY sites, blocks "if (KEY(k, "x")) { ... }", aliases
    # of a block's value node ("cap = v;") and calls of other parsers
    my (%sites, %blocks, %calls, %first_expect);
    for my $name (keys %func) {
        my $body = $func{$name};
        if ($body =~ /\bcf_expect\(\s*[^,]+,\s*[^,]+,\s*(YAML_\w+)/) {
            $first_expect{$name} = $1;
        }
        while ($body =~ /\bKEY\(\s*(\w+)\s*,\s*(?:("\@\d+")|(\w+)\s*\[\s*\w*\s*\])\s*\)/g) {
            my ($at, @names) = ($-[0]);
            if (defined $2) {
                @names = (lit(\@strings, $2));
            } else {
                my $arr = $3;
                $body =~ /\b\Q$arr\E\s*\[\s*\d*\s*\]\s*=\s*\{([^}]*)\}/
                    or die "KEY over array $arr in $name: no initialiser";
                my $init = $1;
                @names = map { lit(\@strings, $_) } $init =~ /("\@\d+")/g;
            }
            push @{ $sites{$name} }, map { { at => $at, name => $_ } } @names;
        }
        while ($body =~ /\bif\s*\(\s*KEY\(\s*(\w+)\s*,\s*("\@\d+")\s*\)\s*\)\s*\{/g) {
            my ($kvar, $name2, $open) = ($1, lit(\@strings, $2), $+[0] - 1);
            my $end = brace_end($body, $open);
            my ($vvar) = $body =~ /\bFOR_PAIRS\(\s*[^,]+,\s*[^,]+,\s*\Q$kvar\E\s*,\s*(\w+)\s*\)/;
            my @alias;
            if (defined $vvar) {
                my $blk = substr($body, $open, $end - $open);
                @alias = $blk =~ /\b(\w+)\s*=\s*\Q$vvar\E\s*;/g;
            }
            push @{ $blocks{$name} }, { name => $name2, open => $open, end => $end,
                                        alias => \@alias };
        }
    }
    for my $name (keys %func) {
        while ($func{$name} =~ /\b(\w+)\s*\((?=([^;{}]*))/g) {
            my ($callee, $args, $at) = ($1, $2, $-[0]);
            next if $callee eq $name || !exists $func{$callee};
            push @{ $calls{$name} }, { callee => $callee, at => $at, args => $args };
        }
    }

    # a block is a list when the first cf_expect in it (or else in a
    # parser it hands its value to) expects a sequence
    my $block_is_list = sub {
        my ($fname, $b) = @_;
        my $blk = substr($func{$fname}, $b->{open}, $b->{end} - $b->{open});
        if ($blk =~ /\bcf_expect\(\s*[^,]+,\s*[^,]+,\s*(YAML_\w+)/) {
            return $1 eq 'YAML_SEQUENCE_NODE';
        }
        for my $c (@{ $calls{$fname} || [] }) {
            my $inside = $c->{at} > $b->{open} && $c->{at} < $b->{end};
            my $via = grep { $c->{args} =~ /\b\Q$_\E\b/ } @{ $b->{alias} };
            next unless $inside || $via;
            my $t = $first_expect{ $c->{callee} } or next;
            return $t eq 'YAML_SEQUENCE_NODE';
        }
        return 0;
    };
    my $ctx_at = sub {           # the block names around $at, outer first
        my ($fname, $at) = @_;
        my @b = sort { $a->{open} <=> $b->{open} }
                grep { $_->{open} < $at && $at < $_->{end} } @{ $blocks{$fname} || [] };
        return map { $_->{name} . ($block_is_list->($fname, $_) ? '[]' : '') } @b;
    };

    my %seen_site;
    my $visit;
    $visit = sub {
        my ($fname, $prefix, $depth) = @_;
        die "parser call chain too deep at $fname" if $depth > 20;
        for my $s (@{ $sites{$fname} || [] }) {
            my $path = join '.', grep { length } $prefix, $ctx_at->($fname, $s->{at}), $s->{name};
            $keys{$path} = 1;
            $seen_site{"$fname\@$s->{at}"} = 1;
        }
        for my $c (@{ $calls{$fname} || [] }) {
            my @ctx = $ctx_at->($fname, $c->{at});
            # a value node kept in a variable ("cap = v;") and parsed later
            for my $b (@{ $blocks{$fname} || [] }) {
                next if $c->{at} > $b->{open} && $c->{at} < $b->{end};
                if (grep { $c->{args} =~ /\b\Q$_\E\b/ } @{ $b->{alias} }) {
                    @ctx = $ctx_at->($fname, $b->{open} + 1);
                    last;
                }
            }
            $visit->($c->{callee}, join('.', grep { length } $prefix, @ctx), $depth + 1);
        }
    };
    my %called = map { $_->{callee} => 1 } map { @$_ } values %calls;
    $visit->($_, '', 0) for grep { !$called{$_} } sort keys %func;

    my %all_sites = map { my $f = $_; map { ("$f\@$_->{at}" => 1) } @{ $sites{$f} } }
                    keys %sites;
    is(scalar(keys %all_sites), $key_sites_total, 'every KEY( in scaler/config*.c was read');
    is(scalar(keys %seen_site), scalar(keys %all_sites),
       'every KEY() site was reached from a top-level parser');
}
my @all_keys = sort keys %keys;
my @leaf_keys = grep { my $k = $_; !grep { /^\Q$k\E(?:\[\])?\./ } @all_keys } @all_keys;
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
    my @tok = $r->{first} =~ /`([^`]+)`/g;
    next unless @tok;
    my $base = $tok[0];
    $documented{$base} //= "$r->{file}:" . ($r->{line} + 1);
    for my $t (@tok[1 .. $#tok]) {
        my $p = $t =~ /[.\[]/ ? $t : ($base =~ /^(.*\.)[^.]*$/ ? "$1$t" : $t);
        $documented{$p} //= "$r->{file}:" . ($r->{line} + 1);
    }
}
for my $k (@leaf_keys) {
    my @forms = ($k);
    push @forms, $1 if $k =~ /^\w+\[\]\.(.+)$/;    # relative to a top-level list's element
    my ($where) = grep { defined } map { $documented{$_} } @forms;
    ok(defined $where, "config key $k has a row with a default in docs/scaler.md or docs/autoscale.md"
                       . (defined $where ? " ($where)" : ''));
}

diag(sprintf "%d directives, %d parameters, %d config keys (%d leaves)",
     scalar @directives, scalar @params, scalar @all_keys, scalar @leaf_keys)
    if $ENV{TEST_VERBOSE};

done_testing();
