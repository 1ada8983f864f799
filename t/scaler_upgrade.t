#!/usr/bin/perl
# Rolling upgrades under load, every part real: Redis, nginx with the
# module (active health checks), the scaler on libvirt's test driver over
# two zones, tools/guestsim (each guest's page names its version) and
# tools/loadgen (open loop through the gateway, every answer counted).
# The gateway's members are sampled all along: the capacity floor is what
# it served, not what the scaler believes.
#
#   version 1 -> 2 (SIGHUP), surge, max_batch_percent 34: 4 batches of
#     at most 2, one zone at a time; never fewer than 6 members up; every
#     member and page on version 2; each old instance replaced once;
#   version 2 -> 3 without surge, version 3 a bad release (guestsim makes
#     its guests fail the gateway's health check): never fewer than 4 up;
#     the upgrade stops after batch 1 and rolls back (version 3 has a
#     new domain template: its version 2 instances are made again from
#     the recipe the others carry); the state
#     says why; the pool stays on version 2;
#   mode manual, version 4: the instances are outdated and nothing else
#     happens until `scalesetctl upgrade web --wait` (a line per batch),
#     which ends with every instance on version 4;
#   `scalesetctl rollback web --wait` on a terminal (a progress bar): back
#     to version 2 (surge: never fewer than 6 up), cancelled and rolled
#     back; a second one refused;
#   version 5, POST .../upgrade then .../upgrade/cancel: no batch after;
#   0 failed client requests through all of it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use IO::Select;
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::RealVM;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
$t->start_redis;
Scaleset::RealVM::start_gateway($t, 'web', workers => 2,
    check => 'interval=300ms timeout=250ms fails=1 passes=1 mandatory');

my %pool = (name => 'web', capacity => [0, 12, 6],
            zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
            cidr => '127.0.88.0/24', port => $t->port('guest'),
            readiness => 'tcp', drain_timeout => '5s');
sub policy {
    my (%u) = @_;
    $pool{extra} = "    health: { grace: 4s }\n    upgrade: { "
                 . join(', ', map { "$_: $u{$_}" } sort keys %u) . " }\n";
}
policy(max_batch_percent => 34);
my $s = Scaleset::Scaler->new($t, interval => '200ms', pools => [\%pool]);
$s->start;
my $ctl = "$dir/guestsim";
mkdir $ctl;
$s->guestsim($ctl);

# --- what is observed -------------------------------------------------------

my ($floor, $at_floor);   # the fewest members up in the gateway since
                          # reset, and the members then
sub up_members {
    my ($all) = @_;
    my $st = $t->gateway_status('http', '/scaleset/status');
    my $m = $st->{pools}{web}{members} or return undef;
    $$all = $m if $all;
    return [ grep { $_->{state} eq 'up' } @$m ];
}
sub sample {
    my $up = up_members(\my $all) // return;
    if (!defined $floor || @$up < $floor) {
        $floor = @$up;
        $at_floor = join ' ', map { "$_->{id}:$_->{state}" } @$all;
    }
    return $up;
}
sub upgrade { my ($c, $u) = $s->api('GET', '/v1/pools/web/upgrade');
              $c == 200 ? $u : {} }
# waits (sampling the gateway) until the upgrade is in state $want
sub until_state {
    my ($want, $timeout) = @_;
    return $t->wait_for(sub { sample(); (upgrade()->{state} // '') eq $want },
                        timeout => $timeout, interval => 0.05,
                        what => "upgrade $want");
}
sub versions {      # id => version of every member record
    my $m = $s->members('web');
    return { map { my ($v) = $m->{$_} =~ /version=(\S+)/; ($_ => $v) }
             keys %$m };
}
sub pages {         # the versions 30 pages through the gateway name
    my %v;
    for (1 .. 30) {
        my ($code, $body) = $t->http_get('http', '/');
        $v{$code == 200 && $body =~ /version=(\S+)/ ? $1 : "status $code"}++;
    }
    return \%v;
}
sub reload {
    my ($version, %u) = @_;
    $pool{version} = $version;
    policy(%u);
    $s->write_config;
    my $n = () = $t->log('scaler') =~ /configuration reloaded/g;
    $t->signal('scaler', 'HUP');
    $t->wait_for(sub { (() = $t->log('scaler') =~ /configuration reloaded/g)
                       > $n }, what => 'reload');
}

ok($t->wait_for(sub { my $u = up_members(); $u && @$u == 6 },
                timeout => 20, what => '6 members up'),
   '6 instances over 2 zones, up in the gateway');
is_deeply([sort values %{ versions() }], [(1) x 6], 'all on version 1');
my %v1 = %{ versions() };

$t->start_loadgen(rate => 40);
ok($t->wait_for(sub { ($t->loadgen_stats->{ok} // 0) > 40 }, timeout => 10,
                what => 'load'), 'load flowing through the gateway');

# --- 1 -> 2 with surge -------------------------------------------------------

$floor = undef;
my $t0 = time;
reload(2, max_batch_percent => 34);
ok(until_state('done', 90), 'version 2: the rolling upgrade is done');
my $took = time - $t0;
my $u = upgrade();
is($u->{batches}, 4, '4 batches (2 + 1 per zone, one zone at a time)');
is($u->{upgraded}, 6, '6 instances replaced');
is($u->{left}, 0, 'none left outdated');
cmp_ok($floor, '>=', 6, "surge: never fewer than 6 members up in the "
       . "gateway (fewest seen: $floor)") or diag $at_floor;
ok($t->wait_for(sub { my $v = versions(); keys %$v == 6
                      && !grep { $_ ne '2' } values %$v }, timeout => 15,
                what => 'members on version 2'),
   'every member record says version=2');
is_deeply(pages(), { 2 => 30 }, "the guests' pages say version 2");
note(sprintf('6 instances 1 -> 2 with surge in %.1f s', $took));

my $log = $t->log('scaler');
my @batches = $log =~ /upgrade rolling \([^\n]* batch instances: ([^\n]*?) rule=upgrade/g;
my (%seen, $twice);
for my $id (map { split ' ' } @batches) { $twice++ if $seen{$id}++ }
is(scalar @batches, 4, 'each batch logged with its instances');
is_deeply([sort keys %seen], [sort keys %v1],
          'the batches together are the 6 version 1 instances');
ok(!$twice, 'no instance in two batches');
for my $id (sort keys %v1) {
    my $n = () = $log =~ /id=\Q$id\E deleted /g;
    is($n, 1, "$id deleted once");
}
like($log, qr/upgrade rolling \(started \(the template changed\): version 1 -> 2, 6 outdated; batch 1 of 4 in zone z1: /,
     'the start and its reason logged');

# --- 2 -> 3 without surge, version 3 bad --------------------------------------

$t->write_file("guestsim/version-3", "fail\n");
# version 3 is a new domain template too: the config no longer has version
# 2's, so the rollback makes it from the recipe its instances carry
my $dom = $t->read_file('dom.xml');
$dom =~ s{</domain>}{  <!-- release 3 -->\n</domain>} or die 'dom.xml';
$t->write_file('dom.xml', $dom);
$floor = undef;
my %v2 = %{ versions() };
reload(3, max_batch_percent => 34, surge => 'false');
ok(until_state('failed', 90), 'version 3: the upgrade failed');
$u = upgrade();
is($u->{batch}, 1, 'it stopped after the first batch');
ok($u->{rolled_back}, 'and was rolled back');
like($u->{error}, qr/^after batch 1: 2 of 2 upgraded instances unhealthy \(more than max_unhealthy_upgraded_percent 20\); rolling back to version 2/,
     "the state says why: $u->{error}");
is($u->{model}{version}, '2', 'the pool stays on version 2');
cmp_ok($floor, '>=', 4, "no surge: never fewer than 4 members up "
       . "(fewest seen: $floor)") or diag $at_floor;
ok($t->wait_for(sub { my $v = versions(); keys %$v == 6
                      && !grep { $_ ne '2' } values %$v }, timeout => 15,
                what => 'members back on version 2'),
   'every member is on version 2 again');
is_deeply(pages(), { 2 => 30 }, 'and so are the pages');
$log = $t->log('scaler');
like($log, qr/id=web-\d+ recipe read: the previous model \(template digest [0-9a-f]{12}\) can be made again/,
     'the previous model\'s recipe came from an instance');
like($log, qr/created in zone z\d at \S+ \(batch 1: a replacement on version 2\) rule=upgrade/,
     'version 2 instances made again from it');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{version}, '2', 'GET /v1/pools/web: version 2');
is(scalar(grep { $_->{latest_model} } @{ $p->{instances_list} }), 6,
   'the six are on the pool\'s model');
unlink "$dir/guestsim/version-3";

# --- mode manual: version 4 -------------------------------------------------

reload(4, mode => 'manual', max_batch_percent => 34);
ok($t->wait_for(sub { (upgrade()->{left} // 0) == 6 }, timeout => 10,
                what => '6 outdated'), 'manual: the 6 are outdated');
my %before = %{ versions() };
sleep 2;
is_deeply(versions(), \%before, 'and nothing replaces them');
is(upgrade()->{state}, 'failed', 'the record is as it was');
my $api = 'http://127.0.0.1:' . $t->port('api');
$floor = undef;
my $pid = open(my $out, '-|', $t->bin('scalesetctl'), '--api', $api,
               'upgrade', 'web', '--wait') or die $!;
my $lines = '';
while (my $l = <$out>) { $lines .= $l; sample() }
close $out;
is($? >> 8, 0, 'scalesetctl upgrade web --wait: exit 0')
    or diag $lines;
like($lines, qr/^web: rolling, batch 1 of 4: web-\d+ web-\d+: \d+\/\d+ on version 4$/m,
     'a line per batch (not a terminal)');
like($lines, qr/^web: upgrade done: 6 instances on version 4$/m, 'and the end');
cmp_ok($floor // 6, '>=', 6, 'surge again: never fewer than 6 up')
    or diag $at_floor;
ok($t->wait_for(sub { my $v = versions(); keys %$v == 6
                      && !grep { $_ ne '4' } values %$v }, timeout => 15,
                what => 'members on version 4'),
   'all on version 4 (once the last drains are over)');

my ($rc, $st) = (undef, `SCALESET_API=$api @{[ $t->bin('scalesetctl') ]} upgrade-status web`);
like($st, qr/^pool web: upgrade done \(mode rolling\), version 2 -> 4, batch 4 of 4$/m,
     'scalesetctl upgrade-status');
my $json = `SCALESET_API=$api @{[ $t->bin('scalesetctl') ]} --json upgrade-status web`;
my $j = decode_json($json);
is($j->{state}, 'done', 'upgrade-status --json');
my $err = `SCALESET_API=$api @{[ $t->bin('scalesetctl') ]} upgrade-cancel web 2>&1`;
is($? >> 8, 1, 'upgrade-cancel with nothing to cancel: exit 1');
like($err, qr/no upgrade to cancel \(it is done\)/, 'the API\'s reason');

# --- rollback through the API: back to version 2 -------------------------------

$floor = undef;
# on a terminal (script(1) gives it one): a progress bar, redrawn
# read as it comes while the gateway is sampled for the fewest up
my $ctl_bin = $t->bin('scalesetctl');
local $ENV{SCALESET_API} = $api;
open(my $rbh, '-|', 'script', '-qec', "$ctl_bin rollback web --wait",
     '/dev/null') or die "script: $!";
my ($tty, $sel) = ('', IO::Select->new($rbh));
my $rb_deadline = time + 120;
while (time < $rb_deadline) {
    sample();
    next unless $sel->can_read(0.05);
    last unless sysread($rbh, my $chunk, 4096);
    $tty .= $chunk;
}
close $rbh;
is($? >> 8, 0, 'scalesetctl rollback web --wait on a terminal: exit 0')
    or diag $tty;
like($tty, qr/\rweb \[[#.]{40}\] \d+\/\d+ on version \d+, rolling_back batch \d+\/\d+ /,
     'a progress bar on a terminal');
my @rb = grep { length } split /\r?\n|\r/, $tty;
like($rb[-1] // '', qr/^web: rolled back: 6 instances on version 2$/,
     'it says so');
$u = upgrade();
is($u->{state}, 'cancelled', 'a rollback through the API ends cancelled');
ok($u->{rolled_back}, 'rolled back');
is($u->{model}{version}, '2', 'the pool\'s model is version 2 again');
ok(defined $floor && $floor >= 6, 'never fewer than 6 up while rolling '
   . 'back (fewest seen: ' . ($floor // 'none') . ')') or diag $at_floor;
ok($t->wait_for(sub { my $v = versions(); keys %$v == 6
                      && !grep { $_ ne '2' } values %$v }, timeout => 15,
                what => 'members on version 2'), 'all on version 2');
$err = `SCALESET_API=$api @{[ $t->bin('scalesetctl') ]} rollback web 2>&1`;
is($? >> 8, 1, 'a second rollback: exit 1');
like($err, qr/rolled back to version 2 already/, 'refused, with the reason');

# --- cancel: nothing more is replaced -----------------------------------------

reload(5, mode => 'manual', max_batch_percent => 34);
ok($t->wait_for(sub { (upgrade()->{left} // 0) == 6 }, timeout => 10,
                what => '6 outdated'), 'version 5: 6 outdated');
my ($c1) = $s->api('POST', '/v1/pools/web/upgrade', {});
is($c1, 200, 'POST /v1/pools/web/upgrade');
my ($c2) = $s->api('POST', '/v1/pools/web/upgrade', {});
is($c2, 409, 'a second POST while it rolls: 409');
# a pass that wrote the record meanwhile makes the API refuse (409, "ask
# again": compare-and-set on its generation): asked again, as it says
my ($c3, $cu);
$t->wait_for(sub {
    ($c3, $cu) = $s->api('POST', '/v1/pools/web/upgrade/cancel', {});
    !($c3 == 409 && ($cu->{error} // '') =~ /changed meanwhile/);
}, timeout => 10, what => 'the cancel not refused by a pass meanwhile');
is($c3, 200, 'POST .../upgrade/cancel') or diag explain $cu;
is($cu->{state}, 'cancelled', 'cancelled');
my $at = length $t->log('scaler');
sleep 2;
unlike(substr($t->log('scaler'), $at), qr/upgrade rolling/,
       'no batch starts after the cancel');
is(upgrade()->{state}, 'cancelled', 'it stays cancelled');
cmp_ok(upgrade()->{left}, '>', 0, 'outdated instances are left as they are');

# --- the load ----------------------------------------------------------------

my $ls = $t->loadgen_stats;
is($ls->{failed}, 0, "0 failed client requests of $ls->{ok}")
    or diag explain $ls->{codes}, $ls->{errors};
ok($ls->{versions}{1} && $ls->{versions}{2} && $ls->{versions}{4},
   'the load was served by versions 1, 2 and 4');
ok(!$ls->{versions}{3}, 'and never by the bad version 3');

# the metrics
my (undef, $m) = $t->http_get('api', '/metrics');
like($m, qr/^scaleset_scaler_upgrade_state\{pool="web",state="cancelled"\} 1$/m,
     'scaleset_scaler_upgrade_state');
like($m, qr/^scaleset_scaler_upgrade_state\{pool="web",state="rolling"\} 0$/m,
     'every state exported');
like($m, qr/^scaleset_scaler_instances_outdated\{pool="web"\} [1-6]$/m,
     'scaleset_scaler_instances_outdated');
like($m, qr/^scaleset_scaler_upgrade_batches_total\{pool="web",result="succeeded"\} \d+$/m,
     'scaleset_scaler_upgrade_batches_total');

$t->done;
