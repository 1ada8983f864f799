# Real VMs through the whole stack: libvirtd started by the test, a zone
# on qemu:///system, the scaler on conf-examples/scaler-qemu.yaml (without
# its rules; a pool
# on conf-examples/qemu-domain.xml: qcow2 overlays on a base volume,
# (127.0.0.1, port) addresses for qemu's host port forwards), Redis and
# nginx with the module.
#   scale 0 -> 3 through the API: every guest serves its own name through
#     the gateway (boot-to-serving times are printed);
#   kill one guest's qemu (by its PID): the gateway stops routing to it,
#     the scaler removes the dead domain and its volume and replaces it;
#   restart the scaler: it adopts the running guests (same domains, same
#     qemu processes, no creation, no duplicate);
#   restart libvirtd: the zone is unreachable (members kept, guests serve),
#     then the scaler reconnects and changes nothing;
#   scale to 0: no domain, no overlay volume, no qemu process left.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;

my $why = Scaleset::Libvirtd->skip_reason;
plan skip_all => $why if $why;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvm-');
$lv->purge;       # rvm-* domains a killed earlier run left defined
my $tpl = Scaleset::RealVM::template($t, $lv);

# 8 consecutive free ports for the guests' host port forwards
my $lo = Scaleset::RealVM::port_range(8);
ok($lo, "port range $lo-" . ($lo + 7));

$t->start_redis;
my $redis = $t->redis;
Scaleset::RealVM::start_gateway($t, 'rvm');

# the shipped example, with this test's paths, ports and URI (its rules
# left out: this test sets the capacity itself)
my $conf = $t->write_file('scaler.yaml',
    Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl, ports => $lo,
                                  drain_timeout => '5s'));

sub start_scaler {
    $t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
              cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);
}
start_scaler();

# --- scale 0 -> 3 ---------------------------------------------------------
my $t0 = time;
my ($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                      body => '{"capacity":3}');
is($code, 200, 'capacity 3 through the API');

my %served;     # name => seconds from the PUT to the first page through nginx
my $all = $t->wait_for(sub {
    my ($c, $b) = $t->http_get('http', '/');
    if (($c // 0) == 200 && ($b // '') =~ m{<h1>(rvm-\d+)</h1>}) {
        $served{$1} //= time - $t0;
    }
    keys %served >= 3;
}, timeout => 150, interval => 0.1, what => '3 guests serving through nginx');
ok($all, '3 guests serve their own names through the gateway')
    or diag_state();
my @ids = sort keys %served;
is_deeply(\@ids, [qw(rvm-000001 rvm-000002 rvm-000003)], 'ids 1..3');
my @boot = sort { $a <=> $b } values %served;
note(sprintf("boot-to-serving through the scaler and gateway: %s s "
             . "(median %.1f s)", join(' ', map { sprintf '%.1f', $_ } @boot),
             $boot[1] // 0));
my $m = members();
is(scalar keys %$m, 3, '3 members in Redis');
like($m->{$_} // '', qr/^127\.0\.0\.1:\d+ zone=z1 version=1$/, "$_ record")
    for @ids;
my @vols = sort grep { /^rvm-/ } $lv->volumes;
is_deeply(\@vols, [map { "$_.qcow2" } @ids], 'one overlay volume each');
my ($rc, $vx) = $lv->virsh('vol-dumpxml', 'rvm-000001.qcow2', '--pool',
                           $lv->pool);
like($vx, qr{<backingStore>\s*<path>[^<]*base\.qcow2</path>}s,
     'overlay backed by the base volume');
like($t->log('nginx'), qr/member "$_" of pool "rvm" is up \(pass\)/,
     "$_ passed the gateway's /healthz check") for @ids;
my %pid = map { $_ => $lv->qemu_pid($_) } @ids;
ok((grep { $_ && kill 0, $_ } values %pid) == 3, '3 qemu processes');

# --- kill one guest's qemu --------------------------------------------------
my $victim = 'rvm-000002';
my $vaddr = $m->{$victim} =~ s/ .*//r;
ok(kill('KILL', $pid{$victim}), "qemu of $victim killed (pid $pid{$victim})");
my $tk = time;
ok($t->wait_for(sub { !exists members()->{$victim} }, timeout => 20,
                what => "$victim deregistered"), 'its member is removed');
my $t_dereg = time - $tk;
my $down = $t->log('nginx') =~ /member "\Q$victim\E" of pool "rvm" is down/;
note(sprintf('kill to deregistered: %.1f s (gateway check %s first)',
             $t_dereg, $down ? 'failed it' : 'had not failed it'));
my @after;
for (1 .. 20) {
    my ($c, $b) = $t->http_get('http', '/');
    push @after, [$c // 0, ($b // '') =~ m{<h1>(rvm-\d+)</h1>} ? $1 : ''];
}
is((grep { $_->[0] != 200 } @after), 0, '20 requests after: all 200');
is((grep { $_->[1] eq $victim } @after), 0, 'none routed to the dead guest');
ok($t->wait_for(sub { !grep { $_ eq "$victim.qcow2" } $lv->volumes },
                timeout => 20), 'its overlay volume is deleted');
my (undef, $dl) = $lv->virsh('list', '--all', '--name');
unlike($dl, qr/\b\Q$victim\E\b/, 'its domain is undefined');

my $new;
ok($t->wait_for(sub {
    my ($c, $b) = $t->http_get('http', '/');
    if (($c // 0) == 200 && ($b // '') =~ m{<h1>(rvm-\d+)</h1>}
        && !$served{$1}) {
        $new = $1;
    }
    $new;
}, timeout => 120, interval => 0.1, what => 'a replacement serving'),
   'a replacement serves through the gateway')
    or diag_state();
is($new, 'rvm-000004', 'the replacement has a new id');
note(sprintf('kill to replacement serving: %.1f s', time - $tk));
$t->wait_for(sub { keys %{ members() } == 3 }, timeout => 30);
my @live = sort keys %{ members() };
is_deeply(\@live, [qw(rvm-000001 rvm-000003 rvm-000004)], '3 members again');
isnt(members()->{'rvm-000004'} =~ s/ .*//r, undef, 'replacement registered');
$pid{$new} = $lv->qemu_pid($new);
delete $pid{$victim};

# --- restart the scaler: adoption ------------------------------------------
$t->stop('scaler');
my $before = $t->log('scaler');
start_scaler();
ok($t->wait_for(sub {
    my $l = substr($t->log('scaler') // '', length $before);
    (() = $l =~ /found domain/g) >= 3;
}, timeout => 20, what => 'adoption'), 'the restarted scaler finds 3 domains');
sleep 3;        # several passes
my $l = substr($t->log('scaler') // '', length $before);
unlike($l, qr/created in zone|deleted|deregistered/,
       'nothing created, deleted or deregistered after the restart');
is_deeply([sort keys %{ members() }], \@live, 'same members');
(undef, $dl) = $lv->virsh('list', '--all', '--name');
is_deeply([sort grep { /^rvm-/ } split /\s+/, $dl], \@live,
          'same domains, no duplicate');
is_deeply({ map { $_ => $lv->qemu_pid($_) } @live },
          { map { $_ => $pid{$_} } @live }, 'same qemu processes');
my %seen;
for (1 .. 30) {
    my ($c, $b) = $t->http_get('http', '/');
    $seen{$1}++ if ($b // '') =~ m{<h1>(rvm-\d+)</h1>};
}
is_deeply([sort keys %seen], \@live, 'the gateway serves all 3');

# --- libvirtd restart: the zone is unreachable, then back --------------------
$before = $t->log('scaler');
$lv->stop_daemon;
ok($t->wait_for(sub {
    substr($t->log('scaler') // '', length $before) =~ /zone z1 .* unreachable/;
}, timeout => 20, what => 'zone unreachable'), 'libvirtd stopped: zone z1 unreachable');
is_deeply([sort keys %{ members() }], \@live, 'members kept while it is down');
my ($c2, $b2) = $t->http_get('http', '/');
is($c2, 200, 'the guests still serve through the gateway');
$lv->start_daemon;
ok($t->wait_for(sub {
    substr($t->log('scaler') // '', length $before) =~ /zone z1 .* is back/;
}, timeout => 30, what => 'zone back'), 'libvirtd restarted: the scaler reconnects');
sleep 2;
$l = substr($t->log('scaler') // '', length $before);
unlike($l, qr/created in zone|deleted|deregistered|failed/,
       'nothing created, deleted or deregistered across the libvirtd restart');
is_deeply({ map { $_ => $lv->qemu_pid($_) } @live },
          { map { $_ => $pid{$_} } @live }, 'same qemu processes');

# --- scale to 0 --------------------------------------------------------------
($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                   body => '{"capacity":0}');
is($code, 200, 'capacity 0');
ok($t->wait_for(sub {
    my (undef, $o) = $lv->virsh('list', '--all', '--name');
    $o !~ /rvm-/;
}, timeout => 60, what => 'no domains'), 'no domain left');
is(scalar keys %{ members() }, 0, 'no member left');
is_deeply([sort $lv->volumes], ['base.qcow2'], 'only the base volume left');
ok($t->wait_for(sub { !grep { kill 0, $_ } values %pid }, timeout => 20),
   'no qemu process left');
ok(!(grep { Scaleset::Test::port_open($_) } $lo .. $lo + 7),
   'no port forward left');

$t->stop('scaler');
$t->done;

sub members {
    return { $redis->hgetall('scaleset:{rvm}:members') };
}

sub diag_state {
    diag(explain(members()));
    diag(($lv->virsh('list', '--all'))[1]);
    my (undef, $s) = $t->http_get('http', '/scaleset/status');
    diag($s // '');
}
