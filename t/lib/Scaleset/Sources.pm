package Scaleset::Sources;

# What a user can configure, read from the C sources (no list of names
# anywhere else): the nginx directives and the parameter keywords their
# handlers match, the scaler's YAML keys as full paths, scalesetctl's
# verbs and the Prometheus metrics the gateway and the scaler export.
# t/docs_reference.t, t/man_pages.t, t/prometheus_rules.t and
# t/grafana_dashboard.t check their documents against these.
#
# Each reader takes an optional $ok callback (Test::More::ok): it is called
# with (bool, name) for the reader's own sanity checks (every table entry
# read, every KEY() site reached), so a parser change that makes a reader
# miss names fails the test instead of shrinking the list silently.

use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use Cwd qw(abs_path);

our @EXPORT_OK = qw(directives config_keys leaf_keys row_paths key_forms
                    ctl_verbs metrics c_mask c_functions slurp);

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');

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


# { directive => [ parameter keywords ] }
sub directives {
    my ($ok, $root) = @_;
    $ok //= sub { $_[0] };
    $root //= $ROOT;
    my (%directive_params, $param_total);
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
        $ok->(scalar @tables, 'found the ngx_command_t tables in ngx_module/*.c');

        for my $t (@tables) {
            # { ngx_string("name"), FLAGS, handler, ... }
            while ($t =~ /\{\s*ngx_string\(\s*("\@\d+")\s*\)\s*,\s*[^,]+,\s*(\w+)\s*,/g) {
                my ($name, $handler) = (lit(\@strings, $1), $2);
                my $body = $func{$handler};
                $ok->(defined $body, "directive $name: handler $handler found")
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
            $ok->($m == $n, 'every ngx_string() of a command table was read');
        }
    }
    return \%directive_params;
}

# every YAML key path the scaler's parsers accept (sorted)
sub config_keys {
    my ($ok, $root) = @_;
    $ok //= sub { $_[0] };
    $root //= $ROOT;
    my %keys;          # path => 1
    {
        my (@strings, %func, $key_sites_total);
        for my $f (sort glob "$root/scaler/config*.c") {
            my $text = c_mask(slurp($f), \@strings);
            my $fn = c_functions($text);
            $func{$_} = $fn->{$_} for keys %$fn;
            $key_sites_total += () = $text =~ /\bKEY\(/g;
        }
        $ok->($key_sites_total >= 3, "KEY( used $key_sites_total times in scaler/config*.c");

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
        $ok->(scalar(keys %all_sites) == $key_sites_total, 'every KEY( in scaler/config*.c was read');
        $ok->(scalar(keys %seen_site) == scalar(keys %all_sites),
           'every KEY() site was reached from a top-level parser');
    }
    return sort keys %keys;
}

# the keys of config_keys() without keys below them
sub leaf_keys {
    my @all = @_;
    return grep { my $k = $_; !grep { /^\Q$k\E(?:\[\])?\./ } @all } @all;
}

# the key paths a reference table row names, from the code spans of its
# first cell: the first is a path, further ones are siblings
# (`pools[].capacity.min` / `max` names pools[].capacity.max too)
sub row_paths {
    my (@tok) = @_;
    return () unless @tok;
    my $base = $tok[0];
    return ($base, map { /[.\[]/ ? $_ : ($base =~ /^(.*\.)[^.]*$/ ? "$1$_" : $_) }
                   @tok[1 .. $#tok]);
}

# the ways a key may be written in a table: its full path, and relative to
# an element of a top-level list (`rules[].name` for pools[].rules[].name)
sub key_forms {
    my ($k) = @_;
    return ($k, $k =~ /^\w+\[\]\.(.+)$/ ? $1 : ());
}

# scalesetctl's verbs: the names main() dispatches on, from a command
# table ({ "verb", ... }) or strcmp(args[0], "verb") (sorted)
sub ctl_verbs {
    my ($ok, $root) = @_;
    $ok //= sub { $_[0] };
    $root //= $ROOT;
    my (%v, @strings);
    for my $f (sort glob "$root/scaler/ctl/*.c") {
        my $text = c_mask(slurp($f), \@strings);
        while ($text =~ /\bstrcmp\(\s*args\[0\]\s*,\s*("\@\d+")/g) {
            $v{ lit(\@strings, $1) } = 1;
        }
        # static const ctl_cmd_t ctl_cmds[] = { { "verb", ... }, ... };
        while ($text =~ /\bctl_cmd_t\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)\n\};/sg) {
            my $t = $1;
            while ($t =~ /\{\s*("\@\d+")\s*,/g) {
                $v{ lit(\@strings, $1) } = 1;
            }
        }
    }
    $ok->(scalar(keys %v) >= 3, 'scalesetctl verbs found: ' . join(' ', sort keys %v));
    return sort keys %v;
}

# { metric name => type } of every family the gateway (ngx_module/) and
# the scaler (scaler/) export: "# TYPE NAME TYPE" lines of their string
# literals (adjacent literals joined as C does) and tables of
# { "NAME", "TYPE", ... }; a histogram's _bucket, _sum and _count too
sub metrics {
    my ($ok, $root) = @_;
    $ok //= sub { $_[0] };
    $root //= $ROOT;
    my %m;
    for my $f (sort(glob("$root/ngx_module/*.c"), glob("$root/scaler/*.c"))) {
        my @strings;
        my $text = c_mask(slurp($f), \@strings);
        # adjacent literals, as the compiler joins them
        $text =~ s{((?:"\@\d+"\s*){2,})}{
            my $run = $1;
            my $joined = join '', map { $strings[$_] } $run =~ /"\@(\d+)"/g;
            push @strings, $joined;
            '"@' . $#strings . '"';
        }ge;
        while ($text =~ /"\@(\d+)"/g) {
            my $s = $strings[$1];
            while ($s =~ /# TYPE (scaleset_\w+) (counter|gauge|histogram|summary|untyped)/g) {
                $m{$1} = $2;
            }
        }
        while ($text =~ /\{\s*"\@(\d+)"\s*,\s*"\@(\d+)"/g) {
            my ($name, $type) = ($strings[$1], $strings[$2]);
            next unless $name =~ /^scaleset_\w+$/
                && $type =~ /^(counter|gauge|histogram|summary|untyped)$/;
            $m{$name} = $type;
        }
    }
    for my $h (grep { $m{$_} eq 'histogram' } keys %m) {
        $m{"${h}_$_"} = 'histogram' for qw(bucket sum count);
    }
    $ok->(scalar(grep { /^scaleset_scaler_/ } keys %m) >= 3
          && scalar(grep { /^scaleset_(?!scaler_)/ } keys %m) >= 3,
          'metric families found: ' . join(' ', sort keys %m));
    return \%m;
}

1;
