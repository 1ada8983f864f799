#!/usr/bin/perl
# Instructions per proxied request of the gateway worker, counted by
# callgrind (t/lib/Scaleset/Callgrind.pm has the method): stock nginx and
# the module at 2 and 2 000 members, round robin, with
# scaleset_health_check, and least_conn; the ratios in the same run; the
# functions whose self cost differs most between the module and stock
# nginx.  Prints a markdown section for docs/benchmarks.md.
# bench-section: gateway-ipr
#
#   bench/gateway-ipr.pl        (N1=1000 N2=5000 requests by default)
#
# Everything runs on 127.0.0.1: one backend nginx (return 200), Redis, the
# gateway under callgrind (1 worker, keepalive 16 to the backends), curl as
# the one keepalive client.  The count does not depend on the machine's
# load; only the wall time does.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/..";

use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Pool;
use Scaleset::Callgrind;
use bench::lib qw(machine);

my $N1 = $ENV{N1} // 1000;
my $N2 = $ENV{N2} // 5000;
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

my @configs = (
    [stock2   => 2,    'stock nginx, 2 `server` lines', servers(2)],
    [mod2     => 2,    'module, 2 members', 'scaleset web;'],
    [mod2hc   => 2,    'module, 2 members, `scaleset_health_check`',
     "scaleset web; $check"],
    [stocklc2 => 2,    'stock nginx `least_conn`, 2 `server` lines',
     'least_conn; ' . servers(2)],
    [modlc2   => 2,    'module `balance=least_conn`, 2 members',
     'scaleset web balance=least_conn;'],
    [stock2k  => 2000, 'stock nginx, 2 000 `server` lines', servers(2000)],
    [mod2k    => 2000, 'module, 2 000 members', 'scaleset web max_members=2048;'],
    [mod2khc  => 2000, 'module, 2 000 members, `scaleset_health_check`',
     "scaleset web max_members=2048; $check"],
    [stocklc2k => 2000, 'stock nginx `least_conn`, 2 000 `server` lines',
     'least_conn; ' . servers(2000)],
    [modlc2k  => 2000, 'module `balance=least_conn`, 2 000 members',
     'scaleset web max_members=2048 balance=least_conn;'],
);

my %res;
for my $c (@configs) {
    my ($name, $m, $what, $up) = @$c;
    my $stock = $name =~ /^stock/;
    members($m) unless $stock;
    my $s = time;
    $res{$name} = $cg->measure(
        name => $name, upstream => $up, n1 => $N1, n2 => $N2,
        no_module => $stock, http => $stock ? '' : $redis,
        ready => $stock ? undef : ready($m, $name =~ /hc$/));
    printf STDERR "%-10s %8.1f instructions/request (%.0f s)\n",
        $name, $res{$name}{ipr}, time - $s;
}

# repeatability: stock nginx and the module at 2, once more
my %again;
for my $c (@configs[0, 1]) {
    my ($name, $m, undef, $up) = @$c;
    my $stock = $name =~ /^stock/;
    members($m) unless $stock;
    $again{$name} = $cg->measure(
        name => "$name-again", upstream => $up, n1 => $N1, n2 => $N2,
        no_module => $stock, http => $stock ? '' : $redis,
        ready => $stock ? undef : ready($m, 0))->{ipr};
}
$t->stop_all;

sub fmt { my $v = sprintf '%.0f', $_[0]; 1 while $v =~ s/^(-?\d+)(\d{3})/$1 $2/; $v }

my $base = $res{stock2}{ipr};
my %same = (mod2 => 'stock2', mod2hc => 'stock2', modlc2 => 'stocklc2',
            mod2k => 'stock2k', mod2khc => 'stock2k', modlc2k => 'stocklc2k');

print "### Instructions per request (bench/gateway-ipr.pl)\n\n";
print "Machine: ", machine(), ".\n";
print <<"EOF";
`valgrind --tool=callgrind` on the gateway's one worker, started twice per
configuration: $N1 and then $N2 requests from one keepalive client (curl,
every path of the same length) to `return 200` backends behind
`keepalive 16`; per request = (Ir($N2) − Ir($N1)) / ($N2 − $N1), so start-up
and exit cancel. Not collected: what the module does on its own clock (its
timer handlers and the Redis connection's events: lease tick, resync, health
reports, check scans, which cost per second, not per request); everything
of nginx's own is. The checks run with `interval=1h`: the first check of
every member before the count starts, none during it. The count does not
depend on the machine's load.

| configuration | instructions / request | × stock nginx, 2 `server` lines | × stock nginx, same balancer and size |
|---|---|---|---|
EOF
for my $c (@configs) {
    my ($name, undef, $what) = @$c;
    my $v = $res{$name}{ipr};
    printf "| %s | %s | %.3f | %s |\n", $what, fmt($v), $v / $base,
        $same{$name} ? sprintf('%.3f', $v / $res{$same{$name}}{ipr}) : '';
}
printf <<"EOF", $res{mod2}{ipr} / $base, $res{mod2k}{ipr} / $base;

- module, 2 members / stock nginx, 2 `server` lines: **%.3f** (target ≤ 1.02)
- module, 2 000 members / stock nginx, 2 `server` lines: **%.3f** (target ≤ 1.03)
EOF
printf "- repeatability: a second measurement gave %s for stock nginx and %s "
     . "for the module at 2 members\n",
    fmt($again{stock2}), fmt($again{mod2});

for my $pair ([mod2 => 'module, 2 members'], [mod2k => 'module, 2 000 members']) {
    my ($name, $what) = @$pair;
    print "\nSelf cost per request of the functions that differ most, $what "
        . "against stock nginx with 2 `server` lines (functions of the "
        . "stripped nginx binary by address):\n\n";
    print "| function | stock nginx | $what | Δ |\n|---|---|---|---|\n";
    for my $d (Scaleset::Callgrind::self_diff($res{stock2}, $res{$name}, $TOP)) {
        printf "| `%s` | %s | %s | %+.0f |\n", $d->[0], fmt($d->[1]),
            fmt($d->[2]), $d->[3];
    }
}

printf "\nCommand: `N1=%d N2=%d bench/gateway-ipr.pl` (%.0f s). Requests per "
     . "second of the same configurations: bench/gateway.sh below (the noisy "
     . "figure).\n", $N1, $N2, time - $t0;
