#!/usr/bin/perl
# Real VMs, a new base image: 3 qemu guests (TCG) through a libvirtd this
# script starts, the scaler on conf-examples/scaler-qemu.yaml, Redis and
# nginx with the module (as t/realvm_upgrade.t).  Alternately: a new file
# at the base's path rolled out by the scaler by itself (upgrade.image,
# max_batch_percent 34: one guest per batch), and, side by side, the next
# one by hand (mode manual, upgrade.image off: `scalesetctl delete` of
# each old guest in turn, each time waiting until the gateway has 3
# guests up again).  Time from the new image to every page through the
# gateway naming it, and the fewest guests up in the gateway meanwhile.
# ROUNDS (2) rounds of each.  Exits 77 where real VMs cannot run.
# bench-section: realvm-upgrade
#   [ROUNDS=2] perl bench/realvm-upgrade.pl

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

if (my $why = Scaleset::Libvirtd->skip_reason) {
    print STDERR "realvm-upgrade: skipped ($why)\n";
    exit 77;
}
my $rounds = $ENV{ROUNDS} // 2;
my $root = Scaleset::Test->root;
# make's own lines go to stderr: stdout is the results' section
system("make -s -C '$root' guest-image 1>&2") == 0 or die "guest-image\n";
my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvm-');
$lv->purge;
my $tpl = Scaleset::RealVM::template($t, $lv);
my $lo = Scaleset::RealVM::port_range(8) or die "no ports\n";
sub base_image { Scaleset::RealVM::set_base_image($t, $lv, $_[0]) }
base_image(1);
$t->start_redis;
Scaleset::RealVM::start_gateway($t, 'rvm',
    check => 'interval=1s timeout=900ms fails=3 passes=1');
my $ctl = $t->bin('scalesetctl');
my $api = 'http://127.0.0.1:' . $t->port('api');
sub conf {
    my ($upgrade) = @_;
    return $t->write_file('scaler.yaml',
        Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl, ports => $lo,
            drain_timeout => '5s',
            more => { qr/upgrade: \{ image: true \}/ => "upgrade: $upgrade" }));
}
my $rolling = '{ image: true, max_batch_percent: 34 }';
my $conf = conf($rolling);
$t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
          cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);
sub reload {
    my ($upgrade) = @_;
    conf($upgrade);
    my $n = () = $t->log('scaler') =~ /configuration reloaded/g;
    $t->signal('scaler', 'HUP');
    $t->wait_for(sub { (() = $t->log('scaler') =~ /configuration reloaded/g)
                       > $n }, what => 'reload');
}

my $floor;
sub up {            # guests up in the gateway: { id => 1 }
    my $st = $t->gateway_status('http', '/scaleset/status');
    my $m = $st->{pools}{rvm}{members} or return undef;
    my %up = map { $_->{id} => 1 } grep { $_->{state} eq 'up' } @$m;
    $floor = keys %up if !defined $floor || keys %up < $floor;
    return \%up;
}
sub pages_say {     # 3 guests up, 6 pages in a row naming image $n
    my ($n) = @_;
    my $u = up() // return 0;
    return 0 unless keys %$u == 3;
    for (1 .. 6) {
        my ($c, $b) = $t->http_get('http', '/');
        return 0 unless ($c // 0) == 200 && ($b // '') =~ m{<p>image $n</p>};
    }
    return 1;
}

$t->http('PUT', 'api', '/v1/pools/rvm/capacity', body => '{"capacity":3}');
$t->wait_for(sub { pages_say(1) }, timeout => 200, interval => 0.5,
             what => '3 guests on image 1') or die "no 3 guests\n";
$t->start_loadgen(rate => 5);
my (@roll, @roll_floor, @hand, @hand_floor, $roll_failed, $hand_failed);
sub failed { $t->loadgen_stats->{failed} // 0 }
my $image = 1;
for my $r (1 .. $rounds) {
    $image = 3 - $image;
    $floor = undef;
    my $f0 = failed();
    my $t0 = time;
    base_image($image);
    $t->wait_for(sub { pages_say($image) }, timeout => 400, interval => 0.5,
                 what => "rolling to image $image") or die "rolling\n";
    push @roll, time - $t0;
    push @roll_floor, $floor;
    $roll_failed += failed() - $f0;

    reload('{ mode: manual, image: false }');
    $image = 3 - $image;
    base_image($image);
    $floor = undef;
    $f0 = failed();
    $t0 = time;
    for my $id (sort keys %{ up() }) {
        my $out = `$ctl --api $api delete rvm $id 2>&1`;
        die "delete $id: $out" if $? != 0;
        $t->wait_for(sub { my $u = up() // return 0;
                           keys %$u == 3 && !$u->{$id} },
                     timeout => 200, interval => 0.5, what => "$id replaced")
            or die "by hand\n";
    }
    $t->wait_for(sub { pages_say($image) }, timeout => 60, interval => 0.5,
                 what => "image $image by hand") or die "by hand\n";
    push @hand, time - $t0;
    push @hand_floor, $floor;
    $hand_failed += failed() - $f0;
    reload($rolling);
    printf STDERR "round %d: rolling %.1f s (floor %d), by hand %.1f s "
        . "(floor %d)\n", $r, $roll[-1], $roll_floor[-1], $hand[-1],
        $hand_floor[-1];
}
my $ls = $t->loadgen_stats;
my $m = machine();
print <<"EOF";
### Real VMs: a new base image (bench/realvm-upgrade.pl)

Machine: $m.
3 TCG guests of `make guest-image` on a libvirtd started here, the scaler
on `conf-examples/scaler-qemu.yaml`, nginx with the module (checks every
1 s, 3 failures of 900 ms to be down: a TCG boot takes most of a core),
5 requests/s of load. Rolling: base image N renamed over `base.qcow2`,
the scaler's own rolling upgrade (`upgrade.image`, `max_batch_percent:
34`: one guest per batch, the new one booted before an old one drains).
By hand: the same with `mode: manual`, `image: false`, and `scalesetctl
delete` of each old guest in turn, waiting each time until the gateway
has 3 guests up. Time: from the new image to 3 guests up and every page
through the gateway naming it. Floor: the fewest guests up in the
gateway meanwhile. $rounds rounds of each, alternating.

| measurement | median | all runs |
|---|---|---|
EOF
row('rolling upgrade (scaler): time', '%.1f s', @roll);
row('rolling upgrade: fewest guests up', '%d', @roll_floor);
row('by hand (delete one at a time): time', '%.1f s', @hand);
row('by hand: fewest guests up', '%d', @hand_floor);
printf "| by hand / rolling | **%.2f×** | |\n", median(@hand) / median(@roll);
printf "\nFailed client requests: %d during the rolling upgrades, %d "
     . "during the ones by hand (of %d in all).\n", $roll_failed,
       $hand_failed, ($ls->{ok} // 0) + ($ls->{failed} // 0);
print "\nCommand: `ROUNDS=$rounds perl bench/realvm-upgrade.pl`\n";
$t->stop('scaler');
