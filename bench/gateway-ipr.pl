#!/usr/bin/perl
# Instructions per proxied request of the gateway worker, counted by
# callgrind (t/lib/Scaleset/Callgrind.pm has the method): stock nginx and
# the module at 2 and 2 000 members, round robin, with
# scaleset_health_check, and least_conn; the ratios in the same run; the
# functions whose self cost differs most between the module and stock
# nginx.  Prints a markdown section for docs/benchmarks.md.
# bench-section: gateway-ipr
#
#   bench/gateway-ipr.pl    REPEAT=3 measurements of each configuration
#                           (medians reported), N=4000 counted requests;
#                           CONFIGS=stock2,mod2 measures only those and
#                           prints no section
#
# Everything runs on 127.0.0.1: one backend nginx (return 200), Redis, the
# gateway under callgrind (1 worker, keepalive 16 to the backends), curl as
# the one keepalive client.  The count does not depend on the machine's
# load; only the wall time does.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";

use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Pool;
use Scaleset::Callgrind;
use Scaleset::Bench qw(machine median);

my $REPEAT = $ENV{REPEAT} // 3;
my $N = $ENV{N} // 4000;
my $TOP = $ENV{TOP} // 12;

system('make -s module >&2') == 0 or die "bench: make module failed\n";
if (my $why = Scaleset::Callgrind::unavailable()) {
    print STDERR "bench: $why\n";
    exit 77;
}

my $t0 = time;
my $t = Scaleset::Test->new(need => [qw(redis nginx module)]);
my $cg = Scaleset::Callgrind->new($t);
my @b = $cg->backends;
$t->start_redis;
my $r = $t->redis;

my $redis = 'scaleset_redis 127.0.0.1:%%PORT_redis%%;';
my $check = 'scaleset_health_check interval=1h timeout=60s;';

sub servers {
    my ($m) = @_;
    return join "\n        ", map { "server $b[$_ % 2];" } 1 .. $m;
}

# the module's pool "web" holds M members, alternating over the backends
sub members {
    my ($m) = @_;
    Scaleset::Pool::pool_replace($r, 'web',
        { map { sprintf('web-%06d', $_) => $b[$_ % 2] } 1 .. $m });
}

# the gateway applied the M members (and with checks found them all up)
sub ready {
    my ($m, $checks) = @_;
    return sub {
        my ($name) = @_;
        $t->wait_for(sub {
            my $log = $t->log($name) // '';
            return 0 unless $log =~ /pool "web" epoch \d+ from redis: $m members/;
            return 1 unless $checks;
            my $up = () = $log =~ /of pool "web" is up/g;
            return $up >= $m;
        }, timeout => 300, what => "$name: $m members applied");
    };
}

# name, members, what, upstream block, the stock nginx it compares with
my @configs = (
    [stock2 => 2, 'stock nginx, 2 `server` lines', servers(2)],
    [mod2 => 2, 'module, 2 members', 'scaleset web;', 'stock2'],
    [mod2hc => 2, 'module, 2 members, `scaleset_health_check`',
     "scaleset web; $check", 'stock2'],
    [stocklc2 => 2, 'stock nginx `least_conn`, 2 `server` lines',
     'least_conn; ' . servers(2)],
    [modlc2 => 2, 'module `balance=least_conn`, 2 members',
     'scaleset web balance=least_conn;', 'stocklc2'],
    [stock2k => 2000, 'stock nginx, 2 000 `server` lines', servers(2000)],
    [mod2k => 2000, 'module, 2 000 members', 'scaleset web max_members=2048;',
     'stock2k'],
    [mod2khc => 2000, 'module, 2 000 members, `scaleset_health_check`',
     "scaleset web max_members=2048; $check", 'stock2k'],
    [stocklc2k => 2000, 'stock nginx `least_conn`, 2 000 `server` lines',
     'least_conn; ' . servers(2000)],
    [modlc2k => 2000, 'module `balance=least_conn`, 2 000 members',
     'scaleset web max_members=2048 balance=least_conn;', 'stocklc2k'],
    # the module's own clock collected too (shared/tools/ipr-bench.sh's
    # figure): its health reports, resyncs and lease ticks while the
    # requests ran, amortised over them
    [mod2all => 2, 'module, 2 members, the worker\'s whole work',
     'scaleset web;', 'stock2'],
    [mod2kall => 2000, 'module, 2 000 members, the worker\'s whole work',
     'scaleset web max_members=2048;', 'stock2k'],
);

my %only = map { $_ => 1 } split /,/, $ENV{CONFIGS} // '';
@configs = grep { $only{$_->[0]} } @configs if %only;

# every member has had requests before the counted ones: a worker prints
# a member's address once, at its first request
sub warmup { my ($m) = @_; return $m * 2 > 1000 ? $m * 2 : 1000 }

my %runs;

# per request without glibc's allocator (malloc.c's functions): what the
# heap's shape costs nginx's request pools, which differs between runs and
# builds, left out; the median of the runs
my $ALLOC = qr/^(?:malloc|free|calloc|realloc|posix_memalign|_int_\w+|_mid_memalign\S*|unlink_chunk\S*|malloc_consolidate|alloc_perturb|sysmalloc|tcache\w*|__libc_(?:malloc|free|calloc|realloc|memalign))$/;

sub code_of {
    my ($r) = @_;
    my $a = 0;
    $a += $r->{self}{$_} for grep { /$ALLOC/ } keys %{ $r->{self} };
    return $r->{ipr} - $a;
}

sub code {
    my ($name) = @_;
    return median(map { code_of($_) } @{ $runs{$name} });
}

# the configurations in turn, REPEAT rounds
for my $round (1 .. $REPEAT) {
    for my $c (@configs) {
        my ($name, $m, undef, $up) = @$c;
        my $stock = $name =~ /^stock/;
        members($m) unless $stock;
        my $s = time;
        my $res = $cg->measure(
            name => "$name-$round", upstream => $up,
            warmup => warmup($m), n => $N,
            no_module => $stock, http => $stock ? '' : $redis,
            background => ($name =~ /all$/ ? 1 : 0),
            ready => $stock ? undef : ready($m, $name =~ /hc$/));
        push @{ $runs{$name} }, $res;
        printf STDERR "round %d %-10s %8.1f instructions/request, %8.1f "
            . "without the allocator (%.0f s, requests %.1f s)\n", $round,
            $name, $res->{ipr}, code_of($res), time - $s, $res->{seconds};
    }
}
$t->stop_all;

exit 0 if %only;

sub fmt { my $v = sprintf '%.0f', $_[0]; 1 while $v =~ s/^(-?\d+)(\d{3})/$1 $2/; $v }

# the median run of a configuration
sub med {
    my ($name) = @_;
    my @r = sort { $a->{ipr} <=> $b->{ipr} } @{ $runs{$name} };
    return $r[$#r / 2];
}

my $base = med('stock2')->{ipr};
my $cbase = code('stock2');

print "### Instructions per request (bench/gateway-ipr.pl)\n\n";
print "Machine: ", machine(), ".\n";
print <<"EOF";
`valgrind --tool=callgrind` on the gateway's one worker; one keepalive
client (curl, every proxied path of the same length) sends W warm-up
requests (1 000, or twice the members: every member has had its first
request), `/_dump` twice, $N requests and `/_dump` again, to `return 200`
backends behind `keepalive 16`. Callgrind dumps the worker's counts at
each `/_dump`, so per request = (Ir(part 3) − Ir(part 2)) / $N, start-up,
warm-up and exit outside, both parts from the same process. Not
collected, except in the rows "the worker's whole work": what the module
does on its own clock (its timer handlers and the Redis connection's
events: lease tick, resync, health reports, check scans, which cost per
second, not per request); everything of nginx's own on the request path
is. The whole-work rows are shared/tools/ipr-bench.sh's figure (without
its start-up in the difference): what the module did on its clock while
the requests ran is divided among them, so that part grows with the
wall time the requests took under callgrind (in the last column). The
checks run with `interval=1h`: the first check of every member before
the count starts, none during it. $REPEAT
measurements of each configuration, taken in turn; the median is compared.
"Without the allocator" leaves out the self cost of glibc's malloc
functions: nginx calls them the same number of times per request with or
without the module, but what each call costs depends on the shape of the
heap, which the module's start-up and its own clock change; that figure
compares the request paths' code alone.

| configuration | instructions / request (median) | × stock nginx, 2 `server` lines | × stock nginx, same balancer and size | every measurement | without the allocator | × stock nginx, 2 `server` lines | client's seconds (median) |
|---|---|---|---|---|---|---|---|
EOF
for my $c (@configs) {
    my ($name, undef, $what, undef, $same) = @$c;
    my $v = med($name)->{ipr};
    printf "| %s | %s | %.3f | %s | %s | %s | %.3f | %.1f |\n", $what,
        fmt($v), $v / $base,
        $same ? sprintf('%.3f', $v / med($same)->{ipr}) : '',
        join(' ', map { fmt($_->{ipr}) } @{ $runs{$name} }),
        fmt(code($name)), code($name) / $cbase,
        median(map { $_->{seconds} } @{ $runs{$name} });
}
printf <<"EOF", med('mod2')->{ipr} / $base, code('mod2') / $cbase, med('mod2k')->{ipr} / $base, code('mod2k') / $cbase, med('mod2all')->{ipr} / $base, med('mod2kall')->{ipr} / $base;

- module, 2 members / stock nginx, 2 `server` lines: **%.3f**, without the
  allocator %.3f (target ≤ 1.02)
- module, 2 000 members / stock nginx, 2 `server` lines: **%.3f**, without
  the allocator %.3f (target ≤ 1.03)
- the worker's whole work, its own clock included: **%.3f** at 2 members,
  **%.3f** at 2 000 members
EOF

for my $pair ([mod2 => 'module, 2 members'], [mod2k => 'module, 2 000 members']) {
    my ($name, $what) = @$pair;
    print "\nSelf cost per request of the functions that differ most, $what "
        . "against stock nginx with 2 `server` lines (median measurements; "
        . "functions of the stripped nginx binary by address):\n\n";
    print "| function | stock nginx | $what | Δ |\n|---|---|---|---|\n";
    for my $d (Scaleset::Callgrind::self_diff(med('stock2'), med($name), $TOP)) {
        printf "| `%s` | %s | %s | %+.0f |\n", $d->[0], fmt($d->[1]),
            fmt($d->[2]), $d->[3];
    }
}

printf "\nCommand: `REPEAT=%d N=%d bench/gateway-ipr.pl` (%.0f s). Requests "
     . "per second of the same configurations: bench/gateway.sh below (the "
     . "noisy figure).\n", $REPEAT, $N, time - $t0;
