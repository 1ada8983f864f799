#!/usr/bin/perl
# The man pages (make man: docs/man/*.md with the reference sections of
# docs/ pulled in by tools/mkman, written by pandoc) are current and name
# everything a user can configure, taken from the C sources as
# t/docs_reference.t takes them (t/lib/Scaleset/Sources.pm), so they
# cannot go stale:
#
#   ngx_http_scaleset_module(8)  every directive has its "Syntax: D" line,
#                                and each parameter keyword of D is named
#                                in D's part of the page
#   scaleset.yaml(5)             every leaf config key is the first cell
#                                of a table row with a default (siblings
#                                and list-relative paths as in
#                                docs_reference.t)
#   scalesetctl(1)               every verb main() dispatches on starts a
#                                row of the COMMANDS table; the exit codes
#   scaleset-scaler(8)           its options and signals
#
# and each renders with man(1) without errors.  No servers.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Sources qw(directives config_keys leaf_keys row_paths
                         key_forms ctl_verbs slurp);
use Scaleset::Test;

my $root = "$FindBin::Bin/..";
my $build = Scaleset::Test->build;
my @pages = qw(scaleset-scaler.8 scalesetctl.1 scaleset.yaml.5 ngx_http_scaleset_module.8);
for my $p (@pages) {
    -f "$build/man/$p" or BAIL_OUT("$build/man/$p missing: run make man");
}

# current: the same as made now from the sources
my $t = Scaleset::Test->new;
my ($version) = slurp("$root/debian/changelog") =~ /^\S+ \(([^)]+)\)/;
for my $p (@pages) {
    my $md = $t->dir . "/$p.md";
    my $out = qx{cd $root && perl tools/mkman docs/man/$p.md > $md 2>&1 && pandoc -s -f markdown -t man -M footer="scaleset $version" -o @{[ $t->dir ]}/$p $md 2>&1};
    is($?, 0, "$p: made from docs/man/$p.md") or diag $out;
    is(slurp("$build/man/$p"), slurp($t->dir . "/$p"), "$build/man/$p is current (make man)");
    $out = qx{LC_ALL=C.UTF-8 MANWIDTH=80 man -l -Tutf8 $build/man/$p 2>&1 >/dev/null};
    is($?, 0, "$p: man renders it");
    unlike($out, qr/\berror\b/i, "$p: without errors") or diag $out;
}

# roff to text: font changes dropped, the escapes pandoc writes decoded;
# code spans (\f[V]...\f[R], \f[C] in older pandoc) kept as `...`
sub text {
    my ($s) = @_;
    $s =~ s/\\f\[[VC]\](.*?)\\f\[[RP]\]/`$1`/g;
    $s =~ s/\\f(?:\[[A-Z]+\]|[BIRPV])//g;
    my %esc = ('ga' => '`', 'aq' => "'", 'rs' => '\\', 'en' => '-', 'em' => '-',
               '<=' => '<=', '>=' => '>=', 'lq' => '"', 'rq' => '"', 'at' => '@',
               'ti' => '~', 'ha' => '^', 'dq' => '"');
    $s =~ s/\\\[(\w\w|<=|>=)\]/$esc{$1} \/\/ ''/ge;
    $s =~ s/\\-/-/g;
    $s =~ s/\\&//g;
    $s =~ s/\\ / /g;
    $s =~ s/\\e/\\/g;
    return $s;
}

# rows of the tbl tables: [ cell text, ... ]
sub rows {
    my ($roff) = @_;
    my @rows;
    while ($roff =~ /^\.TS\n(.*?)^\.TE$/msg) {
        my @l = split /\n/, $1;
        shift @l while @l && $l[0] !~ /\.$/;      # options and format lines
        shift @l;
        my ($in, $cur, @cells) = (0, '');
        for my $l (@l) {
            if (!$in) {
                if ($l eq 'T{') { ($in, $cur) = (1, ''); next }
                next if $l eq '_' || $l eq '';
                push @rows, [ map { text($_) } split /@/, $l ];
            } elsif ($l =~ /^T\}(\@T\{)?$/) {
                push @cells, text($cur);
                $cur = '';
                next if $1;
                push @rows, [@cells];
                @cells = ();
                $in = 0;
            } else {
                $cur .= ($cur eq '' ? '' : ' ') . $l;
            }
        }
    }
    return @rows;
}

# --- ngx_http_scaleset_module(8): directives and parameters ----------------

my %dp = %{ directives(\&ok, $root) };
my $mod = text(slurp("$build/man/ngx_http_scaleset_module.8"));
my @mlines = split /\n/, $mod;
for my $d (sort keys %dp) {
    my ($at) = grep { $mlines[$_] =~ /^\s*Syntax:\s+\Q$d\E(?:[\s;]|$)/ } 0 .. $#mlines;
    ok(defined $at, "ngx_http_scaleset_module(8): \"Syntax: $d\"")
        or next;
    my $end = $at + 1;
    $end++ while $end < @mlines && $mlines[$end] !~ /^\s*Syntax:\s/ && $mlines[$end] !~ /^\.S[HS]\s/;
    my $sec = join "\n", @mlines[$at .. $end - 1];
    for my $p (@{ $dp{$d} }) {
        like($sec, qr/(?<![\w-])\Q$p\E/, "ngx_http_scaleset_module(8): $d names $p");
    }
}

# --- scaleset.yaml(5): every leaf key in a table with a default ------------

my @leaf = leaf_keys(config_keys(\&ok, $root));
my %documented;
for my $r (rows(slurp("$build/man/scaleset.yaml.5"))) {
    next unless @$r >= 2 && $r->[1] =~ /\S/ && $r->[1] !~ /^[\s\x{2014}-]*$/;
    $documented{$_} = 1 for row_paths($r->[0] =~ /`([^`]+)`/g);
}
for my $k (@leaf) {
    ok((grep { $documented{$_} } key_forms($k)), "scaleset.yaml(5): key $k has a row with a default");
}

# --- scalesetctl(1): every verb, the exit codes ------------------------------

my $ctl = slurp("$build/man/scalesetctl.1");
my @ctl_rows = rows($ctl);
for my $v (ctl_verbs(\&ok, $root)) {
    ok((grep { $_->[0] =~ /^`?\Q$v\E(?:\s|`|$)/ } @ctl_rows), "scalesetctl(1): verb $v has a row");
}
for my $code (0 .. 3) {
    ok((grep { $_->[0] eq $code && $_->[1] =~ /\S/ } @ctl_rows), "scalesetctl(1): exit status $code explained");
}

# --- scaleset-scaler(8) ----------------------------------------------------

my $sc = text(slurp("$build/man/scaleset-scaler.8"));
# the options main() takes (its getopt string)
my ($opts) = slurp("$root/scaler/main.c") =~ /getopt\(\s*argc\s*,\s*argv\s*,\s*"([^"]+)"/;
ok($opts, "scaleset-scaler options: $opts");
for my $o (grep { /\w/ } split //, $opts) {
    like($sc, qr/^\.TP\n-$o\b/m, "scaleset-scaler(8): option -$o");
}
for my $sig (qw(SIGHUP SIGTERM)) {
    like($sc, qr/\b$sig\b/, "scaleset-scaler(8): $sig");
}

$t->done;
