#!/usr/bin/perl
# VM metrics benchmark (issue 21): what the stats groups added to the
# listing call cost.
#   1. test:///default, N (1000) instances: CPU per idle reconcile pass of
#      the scaler built at BASE (default b3c0c45, main before the VM
#      metrics work: the listing with STATE | CPU_TOTAL | BALLOON and
#      vmstats.c's own copy of the metrics) and of
#      this build (STATE | CPU_TOTAL | VCPU | BALLOON | INTERFACE | BLOCK,
#      NOWAIT, exported from the pool state), one after the other in each
#      of ROUNDS (3) rounds; medians and their ratio.
#   2. real guests (root, no system libvirtd running): GUESTS (3) TCG
#      guests of conf-examples/qemu-domain.xml (balloon stats every 5 s, a
#      tap NIC) booted through a libvirtd the script starts; the listing
#      call with the old groups and with the new, CALLS (200) times each
#      per round (bench/lib/domstats.c): wall time per call, the caller's
#      and libvirtd's CPU per call, each per guest.
# Prints a markdown section for docs/benchmarks.md.
# bench-section: vm-metrics
#   [ROUNDS=3] [BASE=b3c0c45] [GUESTS=3] [CALLS=200] perl bench/vm-metrics.pl [N]

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use POSIX ();
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;
use Scaleset::RealVM;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

my $n = (shift // 1000) + 0;
my $rounds = $ENV{ROUNDS} // 3;
my $base = $ENV{BASE} // 'b3c0c45';
my $nguests = $ENV{GUESTS} // 3;
my $calls = $ENV{CALLS} // 200;
my $interval_ms = 200;
my $root = Scaleset::Test->root;
my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK());

# the baseline scaler, built from git at BASE
my $bdir = "$root/build/bench/base-$base";
unless (-x "$bdir/build/scaleset-scaler") {
    system("rm -rf '$bdir' && mkdir -p '$bdir' && git -C '$root' archive "
           . "'$base' | tar -x -C '$bdir'") == 0
        or die "vm-metrics: git archive $base failed\n";
    system("nice make -C '$bdir' -j2 scaler > '$bdir.log' 2>&1") == 0
        or die "vm-metrics: building the scaler at $base failed ($bdir.log)\n";
}

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $redis = $t->redis;

sub ticks {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return $f[11] + $f[12];
}

# CPU per idle pass (ms) of the scaler $bin at $n instances
sub pass_cpu {
    my ($bin) = @_;
    my $s = Scaleset::Scaler->new($t, interval => "${interval_ms}ms",
        bin => $bin,
        pools => [ { name => 'web', cidr => '127.1.0.0/16',
                     zones => [['z1', 'test:///default'],
                               ['z2', 'test:///default']],
                     capacity => [0, 1000, 0] } ]);
    my $srv = $s->start;
    my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => $n });
    die "vm-metrics: PUT capacity: $code\n" if $code != 200;
    $t->wait_for(sub { $redis->hlen('scaleset:{web}:members') == $n },
                 timeout => 120, interval => 0.05)
        or die "vm-metrics: $n not registered\n";
    sleep 1;
    my ($c0, $w0) = (ticks($srv->{pid}), time);
    sleep 10;
    my ($c1, $w1) = (ticks($srv->{pid}), time);
    my $cpu = ($c1 - $c0) / $hz * 1000 / (($w1 - $w0) * 1000 / $interval_ms);
    $s->api('PUT', '/v1/pools/web/capacity', { capacity => 0 });
    $t->wait_for(sub { $redis->hlen('scaleset:{web}:members') == 0 },
                 timeout => 120);
    $t->wait_for(sub { my (undef, $p) = $s->api('GET', '/v1/pools/web');
                       !$p->{instances} }, timeout => 30);
    $t->stop('scaler');
    return $cpu;
}

my (@old, @new);
for my $r (1 .. $rounds) {
    push @old, pass_cpu("$bdir/build/scaleset-scaler");
    push @new, pass_cpu($t->bin('scaleset-scaler'));
    printf STDERR "round %d: CPU per pass at %d: %s %.1f ms, this build "
        . "%.1f ms\n", $r, $n, $base, $old[-1], $new[-1];
}

# --- real guests ---------------------------------------------------------

my $GROUPS_OLD = 1 | 2 | 4;                 # STATE | CPU_TOTAL | BALLOON
my $GROUPS_NEW = $GROUPS_OLD | 8 | 16 | 32; # | VCPU | INTERFACE | BLOCK
my $NOWAIT = 1 << 29;                       # ..._GET_ALL_DOMAINS_STATS_NOWAIT
my (%rv, $rv_why);
if (my $why = Scaleset::Libvirtd->skip_reason) {
    $rv_why = $why;
} else {
    my $helper = "$root/build/bench/domstats";
    system("cc -std=c11 -D_GNU_SOURCE -O2 -o '$helper' "
           . "'$root/bench/lib/domstats.c' \$(pkg-config --cflags --libs "
           . "libvirt)") == 0 or die "vm-metrics: domstats does not build\n";
    my $lv = Scaleset::Libvirtd->start($t);
    $lv->track_prefix('bvm-');
    $lv->purge;
    my $tpl = $t->read_file(Scaleset::RealVM::template($t, $lv));
    my @ports;
    for my $i (1 .. $nguests) {
        my $name = sprintf 'bvm-%06d', $i;
        my $port = $t->port("vm$i");
        push @ports, $port;
        my %var = (name => $name, uuid => uuid(), mac => sprintf('52:54:00:00:01:%02x', $i),
                   address => '127.0.0.1', port => $port,
                   volume => $lv->overlay($name));
        (my $x = $tpl) =~ s/\{\{(\w+)\}\}/$var{$1} \/\/ ''/ge;
        my $f = $t->write_file($lv->dir . "/$name.xml", $x);
        $lv->track($name);
        my ($rc, $o) = $lv->virsh('define', $f);
        die "vm-metrics: define $name: $o" if $rc;
        ($rc, $o) = $lv->virsh('start', $name);
        die "vm-metrics: start $name: $o" if $rc;
    }
    for my $p (@ports) {
        $t->wait_for(sub { (($t->http_get($p, '/healthz'))[0] // 0) == 200 },
                     timeout => 180, interval => 0.2)
            or die "vm-metrics: a guest did not boot\n";
    }
    # the guests' balloon drivers report (period 5 s), their boots are over
    $t->wait_for(sub { my (undef, $o) = $lv->virsh('domstats', '--balloon');
                       (() = $o =~ /balloon\.usable=/g) == $nguests },
                 timeout => 30);
    sleep 5;
    my $lpid = $t->pid('libvirtd');
    for my $r (1 .. $rounds) {
        for my $v ([old => $GROUPS_OLD, 0], [new => $GROUPS_NEW, $NOWAIT]) {
            my ($name, $groups, $flags) = @$v;
            my $l0 = ticks($lpid);
            my $out = qx{'$helper' '@{[ $lv->uri ]}' $groups $flags $calls};
            my $l1 = ticks($lpid);
            my %m = $out =~ /(\w+) ([\d.]+)/g;
            die "vm-metrics: domstats: $out" unless ($m{records} // 0) == $nguests;
            push @{ $rv{$name}{wall} }, $m{wall_us} / $nguests;
            push @{ $rv{$name}{client} }, $m{client_cpu_us} / $nguests;
            push @{ $rv{$name}{daemon} },
                ($l1 - $l0) / $hz * 1e6 / $calls / $nguests;
            $rv{$name}{params} = $m{params};
        }
        printf STDERR "round %d (real guests): per guest and call: old %.0f us "
            . "wall, new %.0f us wall\n", $r, $rv{old}{wall}[-1],
            $rv{new}{wall}[-1];
    }
    # each group alone, once: where the difference goes
    for my $g ([STATE => 1], [CPU_TOTAL => 2], [BALLOON => 4], [VCPU => 8],
               [INTERFACE => 16], [BLOCK => 32]) {
        my $l0 = ticks($lpid);
        my $out = qx{'$helper' '@{[ $lv->uri ]}' $g->[1] $NOWAIT $calls};
        my $l1 = ticks($lpid);
        my %m = $out =~ /(\w+) ([\d.]+)/g;
        push @{ $rv{groups} }, [$g->[0], $m{wall_us} / $nguests,
            ($l1 - $l0) / $hz * 1e6 / $calls / $nguests, $m{params}];
    }
}

my $machine = machine();
my $ratio = median(@new) / median(@old);
print <<"EOF2";
### VM metrics: the listing call's stats groups (bench/vm-metrics.pl)

Machine: $machine.
The real scaler and Redis on `test:///default` with two zones, $n
registered instances, `interval: ${interval_ms}ms`, idle: the scaler's
utime+stime over 10 s divided by the passes in that time. The baseline
is the scaler built from `$base` (its listing: `STATE | CPU_TOTAL |
BALLOON`, and a copy of the metrics into vmstats.c's store every pass);
this build asks `STATE | CPU_TOTAL | VCPU | BALLOON | INTERFACE | BLOCK`
with NOWAIT and exports from the pool state. The two run one after the
other in each of $rounds rounds.

| CPU per idle pass at $n instances | median | all runs |
|---|---|---|
EOF2
row("baseline ($base)", '%.1f ms', @old);
row('this build', '%.1f ms', @new);
printf "\nRatio this build / baseline: **%.2f**. The test driver answers every "
     . "group with the state alone, so on it the added groups cost only "
     . "their names' lookups in each record.\n\n", $ratio;
if (%rv) {
    print <<"EOF2";
Real guests: $nguests TCG guests of `conf-examples/qemu-domain.xml` (96 MiB,
balloon statistics every 5 s, a tap NIC, a qcow2 disk), idle, through a
libvirtd the script starts; `virConnectGetAllDomainStats` $calls times
with each set of groups per round (`bench/lib/domstats.c`, one
connection), $rounds rounds. Per guest and call: the median wall time,
the caller's CPU (the RPC and the decoding of the records; the scaler's
own decoding adds little) and libvirtd's CPU (from /proc).

| per guest and call | old groups (`STATE \\| CPU_TOTAL \\| BALLOON`) | new groups (`+ VCPU \\| INTERFACE \\| BLOCK`, NOWAIT) |
|---|---|---|
EOF2
    for my $k ([wall => 'wall time'], [client => 'caller CPU'],
               [daemon => 'libvirtd CPU']) {
        printf "| %s | **%.0f µs** (%s) | **%.0f µs** (%s) |\n", $k->[1],
            median(@{ $rv{old}{$k->[0]} }),
            join(', ', map { sprintf '%.0f', $_ } @{ $rv{old}{$k->[0]} }),
            median(@{ $rv{new}{$k->[0]} }),
            join(', ', map { sprintf '%.0f', $_ } @{ $rv{new}{$k->[0]} });
    }
    printf "| typed parameters per record | %d | %d |\n\n",
        $rv{old}{params}, $rv{new}{params};
    print "Each group alone (NOWAIT, $calls calls, one run), per guest and "
        . "call:\n\n| group | wall time | libvirtd CPU | typed parameters |\n"
        . "|---|---|---|---|\n";
    printf "| %s | %.0f µs | %.0f µs | %d |\n", @$_ for @{ $rv{groups} };
    print "\n";
} else {
    print "Real guests: not measured on this machine ($rv_why).\n\n";
}
print "Command: `ROUNDS=$rounds BASE=$base GUESTS=$nguests CALLS=$calls "
    . "perl bench/vm-metrics.pl $n`\n";

sub uuid {
    my @b = map { int rand 256 } 1 .. 16;
    $b[6] = ($b[6] & 0x0f) | 0x40;
    $b[8] = ($b[8] & 0x3f) | 0x80;
    return sprintf '%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-'
                 . '%02x%02x%02x%02x%02x%02x', @b;
}
