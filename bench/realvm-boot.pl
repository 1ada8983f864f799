#!/usr/bin/perl
# Boot-to-serving time of the real-VM test guest (TCG, conf-examples/
# qemu-domain.xml, qcow2 overlay): for each of N boots (default 5), one at
# a time, the time of `virsh start`, of start -> first /healthz 200, and of
# `virsh destroy`; then K (3) guests started together, ROUNDS (2) times.
# Prints a markdown section for docs/benchmarks.md; exits 77 (skipped)
# where the real-VM test would skip (not root, a system libvirtd running).
# bench-section: realvm-boot
#   [ROUNDS=2] perl bench/realvm-boot.pl [N [K]]   (make guest-image first)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Libvirtd;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median);

my $n = shift // 5;
my $why = Scaleset::Libvirtd->skip_reason;
if ($why) {
    print STDERR "realvm-boot: skipped: $why\n";
    exit 77;
}
my $machine = machine();
my $root = Scaleset::Test->root;
my $t = Scaleset::Test->new;
my $lv = Scaleset::Libvirtd->start($t);
my $gdir = $lv->dir . '/guest';
mkdir $gdir; chmod 0755, $gdir;
system('install', '-m', '0644', "$root/build/guest/$_", "$gdir/$_") == 0
    or die "make guest-image first\n" for qw(vmlinuz initramfs.gz);
my $tmpl = $t->read_file("$root/conf-examples/qemu-domain.xml");

# defines domain NAME from the template, serving on host port PORT
sub define_guest {
    my ($name, $port) = @_;
    my %v = (name => $name,
             uuid => `cat /proc/sys/kernel/random/uuid` =~ s/\s//gr,
             mac => sprintf('52:54:00:00:02:%02x', $port % 256),
             address => '127.0.0.1', port => $port,
             volume => $lv->overlay($name));
    (my $xml = $tmpl) =~ s/\{\{(\w+)\}\}/$v{$1} \/\/ ''/ge;
    $xml =~ s/GUEST_DIR/$gdir/g;
    $xml =~ s/LOG_DIR/$lv->log_dir/ge;
    $t->write_file($lv->dir . "/$name.xml", $xml);
    $lv->track($name);
    $lv->virsh('define', $lv->dir . "/$name.xml");
}

my (@start, @serve, @destroy, @rss);
for my $i (1 .. $n) {
    my $name = sprintf 'bench-%06d', $i;
    my $port = $t->port("vm$i");
    define_guest($name, $port);
    my $t0 = time;
    my ($rc, $out) = $lv->virsh('start', $name);
    die "start: $out" if $rc;
    my $t1 = time;
    $t->wait_for(sub { ($t->http_get($port, '/healthz'))[0] == 200 },
                 timeout => 120, interval => 0.05) or die "$name never served\n";
    my $t2 = time;
    my $qp = $lv->qemu_pid($name);
    my ($rss) = (`cat /proc/$qp/status` =~ /VmRSS:\s+(\d+)/);
    push @rss, $rss / 1024;
    $lv->virsh('destroy', $name);
    my $t3 = time;
    $lv->virsh('undefine', $name);
    $lv->virsh('vol-delete', "$name.qcow2", '--pool', $lv->pool);
    push @start, $t1 - $t0; push @serve, $t2 - $t0; push @destroy, $t3 - $t2;
    printf STDERR "boot %d: start %.2fs, serving %.2fs after start, qemu RSS %.0f MiB, destroy %.2fs\n",
           $i, $t1 - $t0, $t2 - $t0, $rss[-1], $t3 - $t2;
}

# then K guests started together (default 3, as in a 0 -> 3 scale-out):
# time from the first start until every guest answers /healthz, ROUNDS times
my $k = shift // 3;
my $rounds = $ENV{ROUNDS} // 2;
my @all;
for my $round (1 .. $rounds) {
    my (%port, @names);
    for my $i (1 .. $k) {
        my $name = sprintf 'par%d-%06d', $round, $i;
        define_guest($name, $port{$name} = $t->port("par$round-$i"));
        push @names, $name;
    }
    my $p0 = time;
    $lv->virsh('start', $_) for @names;
    my %ready;
    $t->wait_for(sub {
        for my $n (@names) {
            next if $ready{$n};
            $ready{$n} = time - $p0
                if (($t->http_get($port{$n}, '/healthz', timeout => 1))[0]
                    // 0) == 200;
        }
        keys %ready == @names;
    }, timeout => 180, interval => 0.05) or die "parallel boot timed out\n";
    my @r = sort { $a <=> $b } values %ready;
    push @all, $r[-1];
    printf STDERR "%d at once, round %d: all serving %.2fs after the first "
        . "start\n", $k, $round, $r[-1];
    for my $n (@names) {
        $lv->virsh('destroy', $n);
        $lv->virsh('undefine', $n);
        $lv->virsh('vol-delete', "$n.qcow2", '--pool', $lv->pool);
    }
}
$lv->cleanup;
$t->stop_all;

my $row = sub {
    my ($what, $fmt, @v) = @_;
    my @s = sort { $a <=> $b } @v;
    printf "| %s | **$fmt** | $fmt | $fmt |\n", $what, median(@v), $s[0],
           $s[-1];
};
print <<"EOF2";
### Real VMs: boot (bench/realvm-boot.pl)

Machine: $machine.
The tiny guest of `make guest-image` from conf-examples/qemu-domain.xml
(TCG, q35, 96 MiB, qcow2 overlay, qemu user networking with one host port
forward), booted $n times one after another through a libvirtd the script
starts (t/lib/Scaleset/Libvirtd.pm). "serving" = from `virsh start` to the
first `200` from `/healthz` through the port forward (polled every 50 ms).

| $n boots | median | min | max |
|---|---|---|---|
EOF2
$row->('`virsh start` returns', '%.2f s', @start);
$row->('start → `/healthz` 200', '%.2f s', @serve);
$row->('`virsh destroy`', '%.2f s', @destroy);
$row->('qemu RSS while serving', '%.0f MiB', @rss);
printf "\n$k guests started together (`virsh start` of each one after "
     . "another, then polling all), $rounds rounds: every guest serving "
     . "`/healthz` **%.1f s** (median) after the first start; all rounds: "
     . "%s.\n\n", median(@all), join(', ', map { sprintf '%.1f s', $_ } @all);
print "Command: `ROUNDS=$rounds perl bench/realvm-boot.pl $n $k`\n";
