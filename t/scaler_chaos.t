#!/usr/bin/perl
# Chaos on libvirt's test driver (the fast twin of t/realvm_chaos.t): the
# scaler kill -9ed at a random moment after each capacity change, many
# rounds, restarted each time, must converge.  The test driver is served
# by a libvirtd of the test's (Scaleset::Libvirtd->start_test_driver), so
# the domains and volumes outlive the killed scaler as on a real host;
# the pool makes an overlay and a NoCloud seed for each instance (a `dir`
# storage pool of the test driver; the seed's bytes in a file the scaler
# writes at the volume's path).  After each round:
#   - as many domains as the capacity, all running, no other (0 orphan
#     domains); the volumes are the base and ID.qcow2 + ID.seed.iso of
#     each domain, the seed files those of the domains (0 orphan volumes);
#   - one member per domain, none draining, no drain start left over;
#   - no id handed out twice: a deleted id never comes back, new ones are
#     above every earlier one.
# What each kill hit (what the new or leaving instances had at that
# moment) is printed.  SCALESET_CHAOS_SEED=N replays a run's choices,
# SCALESET_CHAOS_ROUNDS sets the number of rounds (50; 20 under ASan).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use List::Util qw(max);
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;
use Scaleset::VirtProxy;

my $SEED = $ENV{SCALESET_CHAOS_SEED} // int(rand(1 << 30));
# fewer with the sanitizer build (make check-asan), whose restarts are
# slower
my $ROUNDS = $ENV{SCALESET_CHAOS_ROUNDS} // ($ENV{SCALESET_ASAN_BINS} ? 20 : 50);
diag("chaos seed $SEED (SCALESET_CHAOS_SEED=$SEED replays it)");

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $redis = $t->redis;
my $lv = Scaleset::Libvirtd->start_test_driver($t, name => 'lvt');
my $pdir = "$dir/vols";
mkdir $pdir;
my ($rc, $out) = $lv->virsh('pool-create-as', 'chaos', 'dir', '--target', $pdir);
is($rc, 0, 'a dir storage pool in the test driver') or diag $out;
($rc, $out) = $lv->virsh('vol-create-as', 'chaos', 'base.qcow2', '64M',
                         '--format', 'qcow2');
is($rc, 0, 'with a base volume') or diag $out;
my $ud = $t->write_file('user-data', "#!/bin/sh\necho {{name}}\n");
# the scaler talks to libvirtd through a proxy that can kill it at an
# exact call (Scaleset::VirtProxy)
my $px = Scaleset::VirtProxy->start($t, $lv->uri);

my $s = Scaleset::Scaler->new($t, interval => '100ms',
    pools => [ { name => 'web', capacity => [0, 8, 0],
                 zones => [['z1', $px->uri]], cidr => '127.0.81.0/24',
                 template_extra => 'volume: { pool: chaos, backing: '
                     . "base.qcow2, format: qcow2 }, cloud_init: { user_data: $ud }",
                 drain_timeout => '5s',
                 extra => "    termination: { shutdown_timeout: 2s }\n" } ],
    devices => <<'EOF');
    <disk type='file' device='disk'>
      <source file='{{volume}}'/><target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='{{seed}}'/><target dev='sda' bus='scsi'/><readonly/>
    </disk>
EOF
$s->start;

my $P = 'scaleset:{web}';
sub members { return { $redis->hgetall("$P:members") } }
# the pool's domains: name => running (1) or not (0), in one call
sub doms {
    my (undef, $o) = $lv->virsh('list', '--all');
    return map { /^\s*\S+\s+(web-\S+)\s+(.*?)\s*$/ ? ($1 => $2 eq 'running' ? 1 : 0) : () }
           split /\n/, $o;
}
sub domains { my %d = doms(); sort keys %d }
sub volumes {
    my (undef, $o) = $lv->virsh("vol-list", "chaos");
    return sort map { (split " ", $_)[0] } grep { /\S/ } split /\n/, $o;
}
sub seeds { map { s{.*/}{}r } sort glob "$pdir/*.seed.iso" }

# what an instance has now: d(efined, shut off) / r(unning), o(verlay),
# s(eed), m(ember) / M(ember draining); '-' nothing
sub has {
    my ($id, $act, $all, $vols, $m) = @_;
    my $h = $act->{$id} ? 'r' : exists $all->{$id} ? 'd' : '';
    $h .= 'o' if $vols->{"$id.qcow2"};
    $h .= 's' if $vols->{"$id.seed.iso"};
    $h .= ($m->{$id} // '') =~ /\bdrain\b/ ? 'M' : 'm' if exists $m->{$id};
    return length $h ? $h : '-';
}

# the rounds' choices from the seed (only they: the harness's temp dir
# and ports stay random, a replay does not meet a run's leftovers)
srand($SEED);
my (%ever, %gone, %hit);
my ($maxid, $cap) = (0, 0);
my $t0 = time;
my @bad;
for my $r (1 .. $ROUNDS) {
    my $to;
    do { $to = int(rand(7)) } while $to == $cap;
    my %before = map { $_ => 1 } domains();
    my $out = $to > $cap;
    my $n = abs($to - $cap);
    # the moment: a call of libvirt's, the kill just before it reaches
    # libvirtd or just after it was sent (the proxy's), the nth of them
    # (a create: define, overlay and seed volumes, start; a scale-in:
    # the ACPI shutdown after the drain (the test driver's domain is off
    # at once), overlay and seed deleted, undefine), or a member
    # registered or drained in Redis (then a random delay), or a random
    # time
    my @calls = $out ? ([DOMAIN_DEFINE_XML => $n], [STORAGE_VOL_CREATE_XML => 2 * $n],
                        [DOMAIN_CREATE => $n])
                     : ([DOMAIN_SHUTDOWN => $n], [STORAGE_VOL_DELETE => 2 * $n],
                        [DOMAIN_UNDEFINE_FLAGS => $n]);
    my @at = ((map { my $c = $_; map { [$_, @$c] } qw(before after) } @calls),
              [$out ? 'registered' : 'drain'], ['time']);
    my ($at, $proc, $of) = @{ $at[int rand @at] };
    my $nth = 1 + int rand($of // 1);
    $px->arm($proc, $nth, $at, $t->pid('scaler')) if $proc;
    my $t_put = time;
    $s->api('PUT', '/v1/pools/web/capacity', { capacity => $to });
    my ($seen, $delay) = (0, 0);
    if ($proc) {
        $seen = $px->fired(5);
        $seen ||= $px->disarm;
        $at = "$at $proc #$nth";
    } elsif ($at eq 'time') {
        ($seen, $delay) = (1, rand(0.4));
    } else {
        my $end = time + 5;
        while (!$seen && time < $end) {
            my $m = members();
            $seen = $at eq 'registered' ? grep({ !$before{$_} } keys %$m)
                  : grep({ /\bdrain\b/ } values %$m);
            sleep 0.001 unless $seen;
        }
        $delay = rand(0.01);
    }
    sleep $delay;
    $t->kill_server('scaler');
    $delay = time - $t_put;

    my %all = doms();
    my %act = map { $_ => 1 } grep { $all{$_} } keys %all;
    my %vols = map { $_ => 1 } volumes();
    my $m = members();
    my @new = grep { !$before{$_} } sort(keys %all, keys %$m,
        map { /^(web-\d+)\./ ? $1 : () } keys %vols);
    my %u;
    @new = grep { !$u{$_}++ } @new;
    my @ids = $to > $cap ? @new : sort keys %before;
    my $what = join(' ', map { "$_=" . has($_, \%act, \%all, \%vols, $m) } @ids);
    $hit{$_}++ for map { has($_, \%act, \%all, \%vols, $m) } @ids;
    note(sprintf "round %d: %d -> %d, killed %d ms after the change, at "
         . "'%s'%s: %s", $r, $cap, $to, $delay * 1000, $at,
         $seen ? '' : ' (not seen)', $what || 'nothing yet');

    push @bad, "round $r: the moment '$at' did not come" unless $seen;
    $s->start;
    my ($ok, $why) = (0, '');
    my $cend = time + 30;
    while (time < $cend) {
        ($ok, $why) = converged($to);
        last if $ok;
        sleep 0.1;
    }
    push @bad, "round $r ($cap -> $to, killed +" . int($delay * 1000)
        . " ms with $what): $why" unless $ok;
    my %now = map { $_ => 1 } domains();
    my @back = grep { $gone{$_} } keys %now;
    push @bad, "round $r: deleted ids back: @back" if @back;
    my @low = grep { !$ever{$_} && substr($_, 4) <= $maxid } keys %now;
    push @bad, "round $r: new ids not above $maxid: @low" if @low;
    $gone{$_} = 1 for grep { !$now{$_} } keys %ever;
    $ever{$_} = 1 for keys %now;
    $maxid = max($maxid, map { substr($_, 4) + 0 } keys %now);
    $cap = $to;
    last if @bad > 3;
}
is(join("\n", @bad), '', "$ROUNDS rounds: each converged, no orphan, no id twice");
diag(sprintf "%d rounds in %.0f s; what the kills found (instances by "
     . "what they had: r running, d defined shut off, o overlay, s seed, "
     . "m member, M draining): %s", $ROUNDS, time - $t0,
     join(', ', map { "$_ $hit{$_}" } sort { $hit{$b} <=> $hit{$a} } keys %hit));
$t->stop('scaler');
$t->done;

sub converged {
    my ($want) = @_;
    my $m = members();
    return (0, 'members ' . join(' ', sort keys %$m)) if keys %$m != $want;
    my %act = doms();
    my @all = sort keys %act;
    return (0, "domains @all, not $want") if @all != $want;
    my @off = grep { !$act{$_} } @all;
    return (0, "shut off: @off") if @off;
    my $wv = join ' ', sort('base.qcow2',
                            map { ("$_.qcow2", "$_.seed.iso") } @all);
    my @v = volumes();
    return (0, "volumes @v, not $wv") if "@v" ne $wv;
    my @sd = seeds();
    my $ws = join ' ', map { "$_.seed.iso" } @all;
    return (0, "seed files @sd, not $ws") if "@sd" ne $ws;
    my @mk = sort keys %$m;
    return (0, "members @mk, domains @all") if "@mk" ne "@all";
    my @dr = grep { $m->{$_} =~ /\bdrain\b/ } @mk;
    return (0, "draining: @dr") if @dr;
    my %d = $redis->hgetall("$P:draining");
    return (0, 'drain starts: ' . join(' ', sort keys %d)) if %d;
    return (1, '');
}
