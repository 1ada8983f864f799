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
# read, every key table reached), so a parser change that makes a reader
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

# every YAML key path the scaler accepts (sorted), from the key tables of
# scaler/config/config*.c (config_yaml.h): static const cf_key_t NAME[] = {
# { "key", CF_SCALAR|CF_MAP|CF_LIST, handler, SUB_TABLE|NULL, ... }, ...
# CF_END };  config_keys is the file; a key with a SUB_TABLE has those
# keys below it (a CF_LIST one as "key[]", its items' keys)
sub config_keys {
    my ($ok, $root) = @_;
    $ok //= sub { $_[0] };
    $root //= $ROOT;
    my (%keys, @strings, %tables, %reached);
    for my $f (grep { m{/config[^/]*\.c$} } scaler_sources($root)) {
        my $text = c_mask(slurp($f), \@strings);
        while ($text =~ /\bcf_key_t\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\bCF_END\b/sg) {
            my ($name, $body) = ($1, $2);
            my @entries;
            while ($body =~ /\{\s*("\@\d+")\s*,\s*(CF_\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,/g) {
                push @entries, { name => lit(\@strings, $1), type => $2,
                                 set => $3, sub => $4 };
            }
            my $n = () = $body =~ /\{\s*"\@\d+"/g;
            $ok->(@entries == $n, "every entry of key table $name was read");
            $tables{$name} = \@entries;
        }
    }
    $ok->(exists $tables{config_keys}, 'found the top-level key table config_keys');
    $ok->(keys %tables >= 5, 'key tables found: ' . join(' ', sort keys %tables));

    my $walk;
    $walk = sub {
        my ($table, $prefix, $depth) = @_;
        die "key tables nested too deep at $table" if $depth > 20;
        $reached{$table} = 1;
        for my $e (@{ $tables{$table} }) {
            my $path = join '.', grep { length } $prefix, $e->{name};
            $path .= '[]' if $e->{type} eq 'CF_LIST' && $e->{sub} ne 'NULL';
            $keys{$path} = 1;
            next if $e->{sub} eq 'NULL';
            $ok->(exists $tables{ $e->{sub} }, "$path: its key table $e->{sub} found")
                and $walk->($e->{sub}, $path, $depth + 1);
        }
    };
    $walk->('config_keys', '', 0) if exists $tables{config_keys};
    $ok->(!grep({ !$reached{$_} } keys %tables),
          'every key table is reached from config_keys');
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

# the daemon's C files: scaler/*.c and those of its parts' folders
# (scaler/PART/*.c), not scalesetctl's (scaler/ctl/); a file still at the
# root is found as one in a folder is
sub scaler_sources {
    my ($root) = @_;
    $root //= $ROOT;
    my @files = grep { !m{/scaler/ctl/} }
        glob("$root/scaler/*.c"), glob("$root/scaler/*/*.c");
    return sort @files;
}

# { metric name => type } of every family the gateway (ngx_module/) and
# the scaler (scaler/) export: "# TYPE NAME TYPE" lines of their string
# literals (adjacent literals joined as C does), expo_family() calls and
# tables of { "NAME", "TYPE", ... }; a histogram's _bucket, _sum and
# _count too
sub metrics {
    my ($ok, $root) = @_;
    $ok //= sub { $_[0] };
    $root //= $ROOT;
    my %m;
    for my $f (sort(glob("$root/ngx_module/*.c")), scaler_sources($root)) {
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
        # expo_family(e, "NAME", "TYPE", ...): the scaler's writer (expo.h)
        while ($text =~ /\bexpo_family\(\s*[^,]+,\s*"\@(\d+)"\s*,\s*"\@(\d+)"/g) {
            my ($name, $type) = ($strings[$1], $strings[$2]);
            $m{$name} = $type if $name =~ /^scaleset_\w+$/;
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
