# Real VMs: warm pools (conf-examples/scaler-qemu.yaml as two pools with a
# warm_pool of 1 each, through a libvirtd the test starts, Redis and nginx
# with the module).
#   rvwp (state paused, size 1) and rvws (state saved, size 2): the warm
#     guests boot, pass /healthz and are suspended (qemu keeps running,
#     paused) or managed-saved (a save file each, no qemu);
#   a scaler restart finds them as they were (the warm state is libvirt's);
#   capacity 1 on each: the paused guest resumes and serves its name
#     through the gateway; of the saved ones, the first to be woken has
#     a save file cut short: its restore fails, it is deleted, and the
#     other one restores and serves (times printed);
#   the refill parks in the background: rvws refilled to 2 saved,
#     capacity 2 wakes one and the refill makes another; while that one's
#     managed save runs (~2 s), capacity 3 wakes the other saved guest at
#     once: its wake begins before the save ends (a pass that waited for
#     the save could not), and it serves (times printed);
#   warm_pool size 0 and capacity 0 (SIGHUP): no domain, no overlay
#     volume, no managed-save file, no qemu process left.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;
use JSON::PP;

my $why = Scaleset::Libvirtd->skip_reason;
plan skip_all => $why if $why;

my $SAVE_DIR = '/var/lib/libvirt/qemu/save';
my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvw');
$lv->purge;
my $tpl = Scaleset::RealVM::template($t, $lv);
my $lo = Scaleset::RealVM::port_range(10);
ok($lo, "port range $lo-" . ($lo + 9));

$t->start_redis;
my $redis = $t->redis;
Scaleset::RealVM::start_gateway($t, [qw(rvwp rvws)]);

# the example's pool twice: rvwp on ports lo..lo+3, rvws on lo+4..lo+9
sub conf {
    my ($paused, $saved) = @_;
    return $t->write_file('scaler.yaml', Scaleset::RealVM::scaler_yaml_pools(
        $t, $lv, template => $tpl, drain_timeout => '5s', pools => [
        { name => 'rvwp', ports => $lo,
          extra => "    warm_pool: { size: $paused, state: paused }\n" },
        { name => 'rvws', ports => $lo + 4, nports => 6,
          extra => "    warm_pool: { size: $saved, state: saved }\n" } ]));
}
my $conf = conf(1, 2);

sub start_scaler {
    $t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
              cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);
}
sub instances {
    my ($pool) = @_;
    my ($c, $b) = $t->http('GET', 'api', "/v1/pools/$pool/instances");
    my $j = eval { JSON::PP::decode_json($b) } // {};
    return @{ $j->{instances} // [] };
}
sub warm {
    my ($pool, $power) = @_;
    my @w = sort map { $_->{id} }
            grep { $_->{state} eq 'warm' && $_->{power} eq $power }
            instances($pool);
    return @w;
}
sub members {
    my ($pool) = @_;
    return { $redis->hgetall("scaleset:{$pool}:members") };
}
start_scaler();

# --- one warm guest each, parked -----------------------------------------
my ($p, $bad, $s);
ok($t->wait_for(sub { ($p) = warm('rvwp', 'paused');
                      ($bad, $s) = warm('rvws', 'saved');
                      $p && $s },
                timeout => 240, interval => 0.5, what => 'warm guests parked'),
   'a warm guest paused in rvwp, two saved in rvws')
    or diag(($lv->virsh('list', '--all'))[1]);
is(keys(%{ members("rvwp") }) + keys(%{ members("rvws") }), 0,
   'neither is registered');
like(($lv->virsh('domstate', $p, '--reason'))[1], qr/paused \(user\)/,
     "$p: libvirt has it paused");
my $ppid = $lv->qemu_pid($p);
ok($ppid && kill(0, $ppid), "$p: its qemu runs");
like(($lv->virsh('domstate', $s, '--reason'))[1], qr/shut off \(saved\)/,
     "$s: shut off, saved");
ok(-s "$SAVE_DIR/$s.save", "$s: its managed save is on disk ("
   . int((-s "$SAVE_DIR/$s.save" // 0) / 1048576) . ' MiB)');

# --- the warm state survives a scaler restart --------------------------------
$t->stop('scaler');
my $before = length $t->log('scaler');
start_scaler();
ok($t->wait_for(sub { (() = substr($t->log('scaler'), $before)
                              =~ /found domain/g) >= 3 },
                timeout => 20, what => 'adoption'), 'restarted: all found');
ok($t->wait_for(sub { "@{[ warm('rvwp', 'paused') ]}" eq $p
                      && "@{[ warm('rvws', 'saved') ]}" eq "$bad $s" },
                timeout => 10, what => 'warm again'),
   'still warm: paused and saved');
unlike(substr($t->log('scaler'), $before), qr/created in zone|deleted|parked/,
       'nothing created, deleted or parked again');
is($lv->qemu_pid($p), $ppid, 'the same paused qemu');

# --- scale-out: resumed and restored, serving -------------------------------
# the saved guest woken first (the lowest id) has its save cut short
truncate("$SAVE_DIR/$bad.save", 4096) or die "truncate: $!";
my (%served, %registered);
for my $case ([rvwp => $p, 'paused'], [rvws => $s, 'saved']) {
    my ($pool, $id, $state) = @$case;
    my $t0 = time;
    my ($code) = $t->http('PUT', 'api', "/v1/pools/$pool/capacity",
                          body => '{"capacity":1}');
    is($code, 200, "$pool: capacity 1");
    ok($t->wait_for(sub {
        $registered{$state} //= time - $t0 if members($pool)->{$id};
        my ($c, $b) = $t->http_get("http_$pool", '/', timeout => 1);
        ($c // 0) == 200 && ($b // '') =~ m{<h1>\Q$id\E</h1>};
    }, timeout => 60, interval => 0.02, what => "$id serving"),
       "the $state guest $id serves its name through the gateway");
    $served{$state} = time - $t0;
    like($t->log('scaler'), qr/id=\Q$id\E woken from $state /,
         "$id woken from $state");
}
note(sprintf('decision -> registered, -> serving through the gateway: '
             . 'paused %.2f s, %.2f s; saved %.2f s, %.2f s (after a failed '
             . 'restore)', $registered{paused} // -1, $served{paused},
             $registered{saved} // -1, $served{saved}));
ok(!-e "$SAVE_DIR/$s.save", "$s: the managed save is gone once restored");
like($t->log('scaler'), qr/id=\Q$bad\E wake failed: restore: /,
     "$bad: its restore failed");
like($t->log('scaler'), qr/id=\Q$bad\E deleted \(its wake failed, to be replaced\) rule=warm/,
     "$bad: deleted");
ok(!exists members('rvws')->{$bad}, "$bad: never registered");

# --- a scale-out during a saved park: not after it ----------------------------
my @w;
ok($t->wait_for(sub { (@w = warm('rvws', 'saved')) == 2 }, timeout => 240,
                interval => 0.5, what => 'rvws refilled'),
   "rvws refilled: @w saved");
my $mark = length $t->log('scaler');
my ($code) = $t->http('PUT', 'api', '/v1/pools/rvws/capacity',
                      body => '{"capacity":2}');
is($code, 200, 'rvws: capacity 2');
my ($woken) = substr($t->log('scaler'), $mark) =~ /id=(\S+) woken from saved/;
ok($t->wait_for(sub {
        ($woken) = substr($t->log('scaler'), $mark) =~ /id=(\S+) woken from saved/;
        $woken && members('rvws')->{$woken} }, timeout => 30,
                what => 'one woken'), 'one saved guest woken and registered');
my ($other) = grep { $_ ne ($woken // '') } @w;
my ($new, $since);
ok($t->wait_for(sub {
        ($new) = substr($t->log('scaler'), $mark)
                 =~ /id=(\S+) created in zone \S+ at \S+ \(warm pool/;
        return 0 unless $new;
        return ($lv->virsh('domstate', $new, '--reason'))[1] =~ /saving/
            || ($lv->virsh('domjobinfo', $new))[1] =~ /Operation:\s+Save/;
    }, timeout => 240, interval => 0.05, what => 'the refill saving'),
   "the refill's $new is being saved") or diag($t->log('scaler'));
my $t0 = time;
($code) = $t->http('PUT', 'api', '/v1/pools/rvws/capacity',
                   body => '{"capacity":3}');
is($code, 200, "rvws: capacity 3 during ${new}'s managed save");
my ($reg, $srv);
ok($t->wait_for(sub {
        $reg //= time - $t0 if members('rvws')->{$other};
        my ($c, $b) = $t->http_get('http_rvws', '/', timeout => 1);
        $srv = time - $t0 if ($c // 0) == 200 && ($b // '') =~ m{\Q$other\E};
        $reg && $srv }, timeout => 60, interval => 0.02,
                what => "$other serving"), "$other woken, registered");
my $log = substr($t->log('scaler'), $mark);
my $wake_at = index($log, "id=$other woken from saved");
my $park_at = index($log, "id=$new parked saved");
ok($wake_at >= 0 && ($park_at < 0 || $wake_at < $park_at),
   "${other}'s wake began before ${new}'s managed save ended");
note(sprintf('a scale-out during a saved park: decision -> registered '
             . '%.2f s, -> answering through the gateway %.2f s',
             $reg // -1, $srv // -1));

# --- nothing left behind ------------------------------------------------------
$conf = conf(0, 0);
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $t->log('scaler') =~ /configuration reloaded/ },
                timeout => 20), 'reloaded with warm_pool size 0');
for my $pool (qw(rvwp rvws)) {
    my ($code) = $t->http('PUT', 'api', "/v1/pools/$pool/capacity",
                          body => '{"capacity":0}');
    is($code, 200, "$pool: capacity 0");
}
ok($t->wait_for(sub {
    my (undef, $o) = $lv->virsh('list', '--all', '--name');
    $o !~ /rvw/;
}, timeout => 90, what => 'no domains'), 'no domain left')
    or diag(($lv->virsh('list', '--all'))[1]);
is(keys(%{ members("rvwp") }) + keys(%{ members("rvws") }), 0,
   'no member left');
is_deeply([sort $lv->volumes], ['base.qcow2'], 'only the base volume left');
is_deeply([grep { /^rvw/ } map { s{.*/}{}r } glob("$SAVE_DIR/*")], [],
          'no managed-save file left');
ok($t->wait_for(sub { !kill 0, $ppid }, timeout => 20), 'no qemu left');

$t->stop('scaler');
$t->done;
