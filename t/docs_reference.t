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
#   parameter P   (a keyword the handler of D matches, "name=" or a bare
#                 word) appears in D's Syntax lines and, in D's section
#                 (from its Syntax line to the next heading), either in
#                 the first cell of a table row whose "default" column is
#                 not empty, as `P...` (`P` for a bare word), or as a
#                 list item "- `P...`" that says "default" or "required".
#   config key K  (a full path: `pools[].template.volume.pool`, from the
#                 cf_key_t tables of scaler/config*.c) is the
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

# (b) scaler YAML keys, as full paths, from the key tables of
# scaler/config*.c (config_yaml.h): static const cf_key_t NAME[] = {
# { "key", CF_SCALAR|CF_MAP|CF_LIST, handler, SUB_TABLE|NULL, ... }, ...
# CF_END };  config_keys is the file; a key with a SUB_TABLE has those
# keys below it (a CF_LIST one as "key[]", its items' keys).

my %keys;          # path => 1
{
    my (@strings, %tables);
    for my $f (sort glob "$root/scaler/config*.c") {
        my $text = c_mask(slurp($f), \@strings);
        while ($text =~ /\bcf_key_t\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\bCF_END\b/sg) {
            my ($name, $body) = ($1, $2);
            my @entries;
            while ($body =~ /\{\s*("\@\d+")\s*,\s*(CF_\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,/g) {
                push @entries, { name => lit(\@strings, $1), type => $2,
                                 set => $3, sub => $4 };
            }
            my $n = () = $body =~ /\{\s*"\@\d+"/g;
            is(scalar @entries, $n, "every entry of table $name was read");
            $tables{$name} = \@entries;
        }
    }
    ok(exists $tables{config_keys}, 'found the top-level table config_keys');
    cmp_ok(scalar keys %tables, '>=', 5, 'key tables found: '
           . join(' ', sort keys %tables));

    my %reached;
    my $walk;
    $walk = sub {
        my ($table, $prefix, $depth) = @_;
        die "key tables nested too deep at $table" if $depth > 20;
        $reached{$table} = 1;
        for my $e (@{ $tables{$table} }) {
            my $path = join '.', grep { length } $prefix, $e->{name};
            $path .= '[]' if $e->{type} eq 'CF_LIST' && $e->{sub} ne 'NULL';
            if ($e->{sub} eq 'NULL') {
                $keys{$path} = 1;
                next;
            }
            ok(exists $tables{ $e->{sub} }, "$path: its table $e->{sub} found")
                or next;
            $keys{$path} = 1;
            $walk->($e->{sub}, $path, $depth + 1);
        }
    };
    $walk->('config_keys', '', 0) if exists $tables{config_keys};
    is(join(' ', grep { !$reached{$_} } sort keys %tables), '',
       'every key table is reached from config_keys');
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
        my $tok = $p =~ /=$/ ? qr/`\Q$p\E[^`]*`/ : qr/`\Q$p\E`/;
        my $word = $p =~ /=$/ ? qr/(?<![\w-])\Q$p\E/ : qr/(?<![\w-])\Q$p\E(?![\w-])/;
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
