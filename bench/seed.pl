#!/usr/bin/perl
# NoCloud seeds: what one instance's seed costs (render, image, volume)
# on a local storage pool, and 0 -> 100 instances with seeds against the
# same without, side by side on one scaler.  Prints a markdown section.
# bench-section: seed
#   [ROUNDS=3] perl bench/seed.pl [N]

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

my $n = (shift // 100) + 0;
my $rounds = $ENV{ROUNDS} // 3;
my $root = "$FindBin::Bin/..";
system('make', '-s', '-C', $root, 'build/t/helpers/seedbench') == 0
    or die "seed bench: cannot build seedbench\n";
my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $dir = $t->dir;

# the user-data: the #cloud-config example of docs/bootstrap.md
my $doc = $t->read_file("$root/docs/bootstrap.md");
my ($ud) = $doc =~ /<!-- bootstrap-example: begin -->\n```yaml\n(.*?)```/s;
$t->write_file('user-data', $ud);
for my $z (qw(plain seeded)) {
    mkdir "$dir/$z";
    $t->write_file("$z.xml", <<"EOF");
<node><pool type='dir'><name>seeds</name>
<uuid>35bb2ad9-388a-cdfe-461a-b8907f6e53fe</uuid>
<capacity>100000000000</capacity><allocation>0</allocation>
<available>100000000000</available><source/>
<target><path>$dir/$z</path></target></pool></node>
EOF
}

# --- one seed: render, image, volume ------------------------------------------

sub seedbench {
    my ($uri, $pool) = @_;
    my $out = qx{$root/build/t/helpers/seedbench '$uri' $pool $n $dir/user-data 2>/dev/null};
    die "seed bench: seedbench $uri failed\n" if $?;
    return split ' ', $out;
}
my (%one, $bytes);
for (1 .. $rounds) {
    my @r = seedbench("test://$dir/plain.xml", 'seeds');
    push @{ $one{render} }, $r[0];
    push @{ $one{image} }, $r[1];
    push @{ $one{local} }, $r[2];
    $bytes = $r[3];
}
my $lv;
if (!Scaleset::Libvirtd->skip_reason) {
    $lv = Scaleset::Libvirtd->start($t);
    for (1 .. $rounds) {
        my @r = seedbench($lv->uri, $lv->pool);
        push @{ $one{upload} }, $r[2];
    }
}

# --- 0 -> N with seeds and without ---------------------------------------------

$t->start_redis;
$t->write_file('seed-dom.xml', <<'EOF');
<domain type='test'><name>{{name}}</name><uuid>{{uuid}}</uuid>
<memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='cdrom'><source file='{{seed}}'/>
<target dev='sda' bus='sata'/><readonly/></disk></devices></domain>
EOF
my $s = Scaleset::Scaler->new($t, interval => '200ms', pools => [
    { name => 'plain', zones => [['z1', "test://$dir/plain.xml"]],
      cidr => '127.1.0.0/16', capacity => [0, 1000, 0] },
    { name => 'seeded', zones => [['z1', "test://$dir/seeded.xml"]],
      cidr => '127.2.0.0/16', capacity => [0, 1000, 0],
      templates => "    template: { domain: $dir/seed-dom.xml, cloud_init:"
                 . " { user_data: $dir/user-data, pool: seeds } }\n" } ]);
$s->start;
my $redis = $t->redis;
sub to {
    my ($pool, $cap) = @_;
    my $t0 = time;
    my ($code) = $s->api('PUT', "/v1/pools/$pool/capacity",
                         { capacity => $cap });
    die "seed bench: PUT $pool $cap: $code\n" if $code != 200;
    1 until $redis->hlen("scaleset:{$pool}:members") == $cap
        || (sleep(0.02), time - $t0 > 120);
    die "seed bench: $pool $cap not reached\n"
        if $redis->hlen("scaleset:{$pool}:members") != $cap;
    if ($cap == 0) {
        $t->wait_for(sub { my (undef, $p) = $s->api('GET', "/v1/pools/$pool");
                           !$p->{instances} }, timeout => 60);
    }
    return time - $t0;
}
my %up;
for my $r (1 .. $rounds) {
    for my $pool (qw(plain seeded)) {
        push @{ $up{$pool} }, to($pool, $n);
        to($pool, 0);
        printf STDERR "round %d %s: 0 -> %d in %.2f s\n", $r, $pool, $n,
            $up{$pool}[-1];
    }
}
my @files = glob("$dir/seeded/*.seed.iso");
die "seed bench: seeds left: @files\n" if @files;

my $machine = machine();
my $ratio = median(@{ $up{seeded} }) / median(@{ $up{plain} });
my $kib = $bytes / 1024;
print <<"EOF";
### NoCloud seeds (bench/seed.pl)

Machine: $machine.
The user-data is the `#cloud-config` of docs/bootstrap.md (1.9 KiB);
each seed has user-data and meta-data, a $kib KiB image. One seed,
`build/t/helpers/seedbench URI POOL $n`, the median of $n seeds in each
of $rounds runs: rendering and checking the files (libyaml), making the
image (libisofs), creating the volume and writing it (on the test
driver the scaler writes the file itself; on a real libvirtd's `dir`
pool, `qemu:///system` of the test's own daemon, it is
`virStorageVolCreateXML` + `virStorageVolUpload` over the RPC socket).

| one seed | median | all runs |
|---|---|---|
EOF
row('render + check the files', '%.0f µs', @{ $one{render} });
row('the ISO image (libisofs)', '%.0f µs', @{ $one{image} });
row('volume + write (test driver, local file)', '%.0f µs', @{ $one{local} });
row('volume + upload (libvirtd, local dir pool)', '%.0f µs', @{ $one{upload} })
    if $one{upload};
print <<"EOF";

0 → $n registered instances on one scaler (`test:///` nodes of the
bench's own, `readiness: none`, `interval: 200ms`), the pool without
seeds and the one with them in turn, $rounds rounds:

| 0 → $n | median | all runs |
|---|---|---|
EOF
row('without seeds', '%.3f s', @{ $up{plain} });
row('with seeds', '%.3f s', @{ $up{seeded} });
printf "\nRatio with / without: **%.2f**: the seeds are made by the\n"
     . "creation workers (4 per zone), a few hundred µs each here.\n\n", $ratio;
print "Command: `ROUNDS=$rounds perl bench/seed.pl $n`\n";
$t->stop('scaler');
