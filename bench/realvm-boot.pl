#!/usr/bin/perl
# Boot-to-serving time of the real-VM test guest (TCG, conf-examples/
# qemu-domain.xml, qcow2 overlay): for each of N boots (default 5), one at
# a time, the time of `virsh start`, of start -> first /healthz 200, and of
# `virsh destroy`; prints each boot and the medians.
#   perl bench/realvm-boot.pl [N [K]]   (root; make guest-image first)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Libvirtd;

my $n = shift // 5;
my $why = Scaleset::Libvirtd->skip_reason;
die "realvm-boot: $why\n" if $why;
my $root = Scaleset::Test->root;
my $t = Scaleset::Test->new;
my $lv = Scaleset::Libvirtd->start($t);
my $gdir = $lv->dir . '/guest';
mkdir $gdir; chmod 0755, $gdir;
system('install', '-m', '0644', "$root/build/guest/$_", "$gdir/$_") == 0
    or die "make guest-image first\n" for qw(vmlinuz initramfs.gz);
my $tmpl = $t->read_file("$root/conf-examples/qemu-domain.xml");

my (@start, @serve, @destroy, @rss);
for my $i (1 .. $n) {
    my $name = sprintf 'bench-%06d', $i;
    my $port = $t->port("vm$i");
    my %v = (name => $name, uuid => `cat /proc/sys/kernel/random/uuid` =~ s/\s//gr,
             address => '127.0.0.1', port => $port, volume => $lv->overlay($name));
    (my $xml = $tmpl) =~ s/\{\{(\w+)\}\}/$v{$1} \/\/ ''/ge;
    $xml =~ s/GUEST_DIR/$gdir/g;
    $xml =~ s/LOG_DIR/$lv->log_dir/ge;
    $t->write_file($lv->dir . "/$name.xml", $xml);
    $lv->track($name);
    $lv->virsh('define', $lv->dir . "/$name.xml");
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
    printf "boot %d: start %.2fs, serving %.2fs after start, qemu RSS %.0f MiB, destroy %.2fs\n",
           $i, $t1 - $t0, $t2 - $t0, $rss[-1], $t3 - $t2;
}
sub median { my @s = sort { $a <=> $b } @_; @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }
printf "median of %d: start %.2fs, start->/healthz 200 %.2fs (min %.2f, max %.2f), qemu RSS %.0f MiB, destroy %.2fs\n",
       $n, median(@start), median(@serve), (sort { $a <=> $b } @serve)[0],
       (sort { $a <=> $b } @serve)[-1], median(@rss), median(@destroy);

# then K guests started together (default 3, as in a 0 -> 3 scale-out):
# time from the first start to each guest's first /healthz 200
my $k = shift // 3;
my (%port, @names);
for my $i (1 .. $k) {
    my $name = sprintf 'par-%06d', $i;
    my $port = $port{$name} = $t->port("par$i");
    my %v = (name => $name, uuid => `cat /proc/sys/kernel/random/uuid` =~ s/\s//gr,
             address => '127.0.0.1', port => $port, volume => $lv->overlay($name));
    (my $xml = $tmpl) =~ s/\{\{(\w+)\}\}/$v{$1} \/\/ ''/ge;
    $xml =~ s/GUEST_DIR/$gdir/g;
    $xml =~ s/LOG_DIR/$lv->log_dir/ge;
    $t->write_file($lv->dir . "/$name.xml", $xml);
    $lv->track($name);
    $lv->virsh('define', $lv->dir . "/$name.xml");
    push @names, $name;
}
my $p0 = time;
$lv->virsh('start', $_) for @names;
my %ready;
$t->wait_for(sub {
    for my $n (@names) {
        next if $ready{$n};
        $ready{$n} = time - $p0
            if (($t->http_get($port{$n}, '/healthz', timeout => 1))[0] // 0) == 200;
    }
    keys %ready == @names;
}, timeout => 180, interval => 0.05) or die "parallel boot timed out\n";
my @r = sort { $a <=> $b } values %ready;
printf "%d at once: all serving %.2fs after the first start (first %.2fs, median %.2fs)\n",
       $k, $r[-1], $r[0], median(@r);
$lv->cleanup;
$t->stop_all;
