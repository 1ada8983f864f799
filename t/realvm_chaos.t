#!/usr/bin/perl
# Chaos on real VMs (issue 13): the scaler kill -9ed at random moments of
# a scale-out and of a scale-in on the test's libvirtd (qemu TCG guests
# with a qcow2 overlay and a NoCloud seed ISO each), 10 rounds, each
# followed by a restart of the scaler, which must converge:
#   - as many domains as the capacity, every one running, no other
#     domain of the pool's (0 orphan domains);
#   - no volume in the storage pool but the base and each domain's
#     ID.qcow2 and ID.seed.iso (0 orphan overlays or seeds);
#   - 0 duplicate ids: an id is never handed out twice, a deleted one
#     never comes back, new ones are above every earlier one;
#   - every member record matches a live domain: its id is a running
#     domain, its address that domain's port forward, the guest there
#     serves its own name, no drain flag or drain start left over;
#   - no qemu process of this test's but the domains'.
# Each round picks where to kill (each kind once before any twice): in a
# scale-out once the instance numbers are reserved in Redis, with the
# define in flight, defined but before its overlay, with the overlay in
# flight, with the seed's upload in flight, before the start, with the
# start in flight, or while the guests boot; in a scale-in once the drain
# is written, with the ACPI shutdown in flight, with the destroy in
# flight (termination.shutdown_timeout 2 s: the guest ignores ACPI here),
# off but before its delete, with the overlay's or the seed's delete or
# the undefine in flight, before the undefine, or at a random moment.  The
# kills at a libvirt call are made by a proxy on libvirtd's socket
# (Scaleset::VirtProxy) at that exact call, of one of the instances that
# come or go; the others after the moment was seen in Redis or qemu's pid
# file and a random delay.  What each kill hit is printed.  The last
# round scales to 0: nothing of the pool's is left in libvirt.
# SCALESET_CHAOS_SEED=N replays a run's choices, SCALESET_CHAOS_ROUNDS
# sets the number of rounds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use List::Util qw(max shuffle);
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;
use Scaleset::VirtProxy;

my $why = Scaleset::Libvirtd->skip_reason;
plan skip_all => $why if $why;

my $SEED = $ENV{SCALESET_CHAOS_SEED} // int(rand(1 << 30));
my $ROUNDS = $ENV{SCALESET_CHAOS_ROUNDS} // 10;
diag("chaos seed $SEED (SCALESET_CHAOS_SEED=$SEED replays it)");

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvm-');
$lv->purge;
# the guest ignores ACPI (scaleset.acpi=off, tools/guest-image.sh), so a
# drained one is always destroyed at shutdown_timeout: the destroy's
# moment comes in every scale-in
my $tpl = Scaleset::RealVM::template_with_seed($t, $lv,
    qr/ scaleset\.name=\{\{name\}\}</ => ' scaleset.acpi=off scaleset.name={{name}}<');
my $lo = Scaleset::RealVM::port_range(8);
ok($lo, "port range $lo-" . ($lo + 7));
$t->start_redis;
my $redis = $t->redis;
my $ud = $t->write_file('user-data', <<'EOF');
#!/bin/sh
printf '<!doctype html><h1>%s</h1>\n' '{{name}}' > /www/index.html
EOF
chmod 0644, $ud;
# the scaler talks to libvirtd through a proxy that can kill it at an
# exact call of libvirt's (Scaleset::VirtProxy)
my $px = Scaleset::VirtProxy->start($t, $lv->uri);
my $conf = $t->write_file('scaler.yaml',
    Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl, ports => $lo,
        uri => $px->uri,
        drain_timeout => '5s',
        more => { qr/^      version: 1$/m => "      version: 1\n"
                  . "      cloud_init: { user_data: $ud }",
                  # the drained guest asked to power off (ACPI), which the
                  # tiny guest ignores: destroyed 2 s later
                  qr/^    scale_in_policy: default$/m
                  => "    scale_in_policy: default\n"
                  . "    termination: { shutdown_timeout: 2s }" }));

sub start_scaler {
    $t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
              cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);
}
start_scaler();

my $pdir = $lv->pool_dir;
my $P = 'scaleset:{rvm}';
sub members { return { $redis->hgetall("$P:members") } }
sub id_of { sprintf 'rvm-%06d', $_[0] }
sub defined_file { "/etc/libvirt/qemu/$_[0].xml" }
sub pid_file { "/run/libvirt/qemu/$_[0].pid" }

# what an instance has, as far as the files and Redis say, now
sub steps {
    my ($id, $m) = @_;
    my @s;
    push @s, 'defined' if -e defined_file($id);
    push @s, 'overlay' if -e "$pdir/$id.qcow2";
    push @s, 'seed' if -e "$pdir/$id.seed.iso";
    push @s, 'started' if -e pid_file($id);
    if (defined(my $r = $m->{$id})) {
        push @s, $r =~ /\bdrain\b/ ? 'member(drain)' : 'member';
    }
    return @s ? join('+', @s) : 'nothing';
}

# the rounds' choices from the seed (only they: the harness's temp dir
# and ports stay random, a replay does not meet a run's leftovers)
srand($SEED);
# --- the rounds -----------------------------------------------------------
my @caps = (2, 1, 3, 1, 3, 2, 3, 1, 2);
push @caps, map { $_ % 2 ? 1 : 3 } 1 .. $ROUNDS - 1 - @caps;
@caps = (@caps[0 .. $ROUNDS - 2], 0);
# where to kill: [name, before|after, libvirt call, which of them per
# instance (of how many)], the call's kill made by the proxy (before: the
# call never reaches libvirtd; after: it is in flight), or a moment seen
# in Redis or the files
my @out_at = shuffle(
    ['reserve'],                                    # numbers reserved
    ['define in flight', after => 'DOMAIN_DEFINE_XML', 1, 1],
    ['defined, no overlay', before => 'STORAGE_VOL_CREATE_XML', 1, 2],
    ['overlay in flight', after => 'STORAGE_VOL_CREATE_XML', 1, 2],
    ['seed upload in flight', after => 'STORAGE_VOL_UPLOAD', 1, 1],
    ['before the start', before => 'DOMAIN_CREATE', 1, 1],
    ['start in flight', after => 'DOMAIN_CREATE', 1, 1],
    ['booting']);                                   # qemu runs, + 0-6 s
my @in_at = shuffle(
    ['drain'],                                      # drain written
    ['shutdown in flight', after => 'DOMAIN_SHUTDOWN', 1, 1],
    ['destroy in flight', after => 'DOMAIN_DESTROY', 1, 1],
    ['off, before its delete', before => 'STORAGE_VOL_DELETE', 1, 2],
    ['overlay delete in flight', after => 'STORAGE_VOL_DELETE', 1, 2],
    ['seed delete in flight', after => 'STORAGE_VOL_DELETE', 2, 2],
    ['before the undefine', before => 'DOMAIN_UNDEFINE_FLAGS', 1, 1],
    ['undefine in flight', after => 'DOMAIN_UNDEFINE_FLAGS', 1, 1],
    ['anytime']);                                   # 0-1.5 s
my (%ever, %gone);          # every id seen, the ids deleted
my $maxid = 0;
my $cap = 0;
my $t_all = time;
my @hits;

for my $r (1 .. @caps) {
    my $to = $caps[$r - 1];
    my $out = $to > $cap;
    my $mom = $out ? shift(@out_at) : shift(@in_at);
    push @{ $out ? \@out_at : \@in_at }, $mom;
    my ($at, $when, $proc, $k, $per) = @$mom;
    my $t_round = time;
    my $seq = $redis->get("$P:seq") // 0;
    my @new = map { id_of($_) } $seq + 1 .. $seq + ($out ? $to - $cap : 0);
    my %before = map { $_ => 1 } keys %{ members() };
    # the call of one of the instances that come or go
    my $nth = $proc ? $per * int(rand(abs($to - $cap))) + $k : 0;
    $px->arm($proc, $nth, $when, $t->pid('scaler')) if $proc;

    my ($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                          body => qq({"capacity":$to}));
    is($code, 200, "round $r: capacity $cap -> $to");
    my $t_put = time;

    # the proxy's kill, or the moment and then a random delay
    my ($seen, $delay, @leaving) = (0, 0);
    my $end = time + 60;
    if ($proc) {
        $seen = $px->fired(60);
        $seen ||= $px->disarm;
        $at .= " ($when $proc #$nth)";
    }
    while (!$proc && time < $end) {
        if ($at eq 'reserve') {
            $seen = ($redis->get("$P:seq") // 0) > $seq;
        } elsif ($at eq 'booting') {
            $seen = grep({ -e pid_file($_) } @new);
        } elsif ($at eq 'anytime') {
            $seen = 1;
        } else {
            my $m = members();
            $seen = grep { !exists $m->{$_} || $m->{$_} =~ /\bdrain\b/ }
                    keys %before;
        }
        last if $seen;
        sleep 0.002;
    }
    $delay = $proc ? 0
           : $at eq 'booting' ? rand(6)
           : $at eq 'reserve' ? rand(0.01)
           : $at eq 'anytime' ? rand(1.5)
           : rand(0.05);
    sleep $delay;
    my $t_kill = time;
    $t->kill_server('scaler');
    my $m = members();
    my @ids = $out ? @new : sort keys %before;
    my $hit = join(', ', map { "$_ " . steps($_, $m) } @ids);
    my $line = sprintf("round %d (scale-%s %d -> %d): kill %.2f s after "
        . "the change, at '%s'%s +%d ms: %s", $r, $out ? 'out' : 'in', $cap,
        $to, $t_kill - $t_put, $at, $seen ? '' : ' (not seen)',
        $delay * 1000, $hit);
    diag($line);
    push @hits, $line;
    ok($seen, "round $r: the moment '$at' came");
    start_scaler();

    # converged: two looks 1 s apart agree and hold every property
    my ($ok, $prev, $why, $state) = (0, undef, '', '');
    my $cend = time + 120;
    while (time < $cend) {
        my ($good, $w, $s) = converged($to);
        ($why, $state) = ($w, $s);
        if ($good && defined $prev && $s eq $prev) {
            $ok = 1;
            last;
        }
        $prev = $good ? $s : undef;
        sleep($good ? 1 : 0.3);
    }
    ok($ok, sprintf("round %d: converged to %d in %.1f s (%s)", $r, $to,
                    time - $t_kill, $state))
        or diag("not converged: $why\n" . state_dump());

    # ids: never handed out twice, never reused, above every earlier one
    my %now = map { $_ => 1 } domains();
    my @back = grep { $gone{$_} } keys %now;
    is("@back", '', "round $r: no deleted id came back");
    my @fresh = grep { !$ever{$_} } sort keys %now;
    my @low = grep { substr($_, 4) <= $maxid } @fresh;
    is("@low", '', "round $r: new ids above every earlier one");
    for my $id (keys %ever) {
        $gone{$id} = 1 unless $now{$id};
    }
    $ever{$_} = 1 for keys %now;
    $maxid = max($maxid, map { substr($_, 4) + 0 } keys %now);
    $cap = $to;
    note(sprintf 'round %d: %.1f s', $r, time - $t_round);
}
my @left = glob '/etc/libvirt/qemu/rvm-*.xml';
is("@left", '', 'nothing of the pool\'s defined in libvirt');
is(join(' ', grep { $_ ne 'base.qcow2' } $lv->volumes), '',
   'no volume in the storage pool but the base');
diag("what the kills hit:\n" . join("\n", @hits));
diag(sprintf '%d rounds in %.0f s', scalar @caps, time - $t_all);

$t->stop('scaler');
$t->done;

# --- the checks -----------------------------------------------------------

sub domains {
    my (undef, $o) = $lv->virsh('list', '--all', '--name');
    return sort grep { /^rvm-/ } split /\s+/, $o;
}

# (1 or 0, why not, a summary that two equal looks share)
sub converged {
    my ($want) = @_;
    my @all = domains();
    my (undef, $o) = $lv->virsh('list', '--name');
    my %run = map { $_ => 1 } grep { /^rvm-/ } split /\s+/, $o;
    my $m = members();
    my %drains = $redis->hgetall("$P:draining");
    my @vols = sort $lv->volumes;
    my $sum = "domains @all; members " . join(' ', sort keys %$m);
    return (0, "domains @all, not $want", $sum) if @all != $want;
    my @off = grep { !$run{$_} } @all;
    return (0, "not running: @off", $sum) if @off;
    my $want_vols = join ' ', sort('base.qcow2',
        map { ("$_.qcow2", "$_.seed.iso") } @all);
    return (0, "volumes @vols, not $want_vols", $sum)
        if "@vols" ne $want_vols;
    return (0, 'members ' . join(' ', sort keys %$m), $sum)
        if join(' ', sort keys %$m) ne "@all";
    return (0, 'drain starts left: ' . join(' ', keys %drains), $sum)
        if %drains;
    for my $id (@all) {
        my ($addr, @flags) = split / /, $m->{$id};
        return (0, "$id: a drained member", $sum) if grep { $_ eq 'drain' } @flags;
        my (undef, $x) = $lv->virsh('dumpxml', $id);
        my ($port) = $x =~ /hostfwd=tcp:127\.0\.0\.1:(\d+)-:80/;
        return (0, "$id: member $addr, domain forwards "
                   . ($port // 'nothing'), $sum)
            if !defined $port || $addr ne "127.0.0.1:$port";
        my ($c, $b) = $t->http_get($port, '/');
        return (0, "$id: its guest answers " . ($c // 'nothing'), $sum)
            unless ($c // 0) == 200 && ($b // '') =~ m{<h1>\Q$id\E</h1>};
    }
    my @qemu = qemu_of_test();
    return (0, "qemu processes of: @qemu", $sum) if "@qemu" ne "@all";
    return (1, '', $sum);
}

# the guests whose qemu runs on this test's storage pool, by name
sub qemu_of_test {
    my @n;
    for my $c (glob '/proc/[0-9]*/cmdline') {
        open my $fh, '<', $c or next;
        local $/;
        my $l = <$fh> // '';
        next unless index($l, $pdir) >= 0 && $l =~ /\0guest=(rvm-\d+)/;
        push @n, $1;
    }
    return sort @n;
}

sub state_dump {
    return join("\n", explain(members()),
                ($lv->virsh('list', '--all'))[1],
                join(' ', $lv->volumes),
                'qemu: ' . join(' ', qemu_of_test()),
                'the proxy: ' . ($t->alive('virtproxy') ? 'runs' : 'gone'),
                'scaler log (last 30 lines):',
                (split /\n/, $t->log('scaler') // '')[-30 .. -1]);
}
