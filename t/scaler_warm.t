#!/usr/bin/perl
# scaler: the warm pool on the test driver (warm_pool: { size: 2, state:
# paused, reuse_on_scale_in: true }).
#   - capacity 2: 2 registered, 2 more warm (booted, ready, paused; shown
#     as warm in the API, the metrics and scalesetctl, never registered);
#   - 2 -> 4 takes both warm instances (same ids, woken and registered;
#     no domain defined for the capacity), then the pool refills to 2;
#   - 4 -> 3: the drained instance goes back to the warm pool (reuse);
#   - template version 2 (SIGHUP): the warm instances of version 1 are
#     replaced by ones of version 2; those in service are left (upgrade
#     mode manual: no rolling upgrade starts);
#   - a warm instance that does not come back (it no longer answers after
#     its wake) is deleted and replaced;
#   - a node whose warm domains are saved and paused (test:///FILE.xml,
#     the state a restarted scaler finds in libvirt), for a pool of
#     state saved: adopted as warm, not registered, the paused one saved;
#     the lowest id woken from its managed save.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $dir = $t->dir;
my $gport = $t->port('guest');

# the restarted scaler's view: warm domains in libvirt, one paused, one
# saved (shut off with a managed save)
sub dom {
    my ($name, $state) = @_;
    return Scaleset::Scaler::test_domain($name, "pool='old' id='$name' "
        . "zone='z1' version='1' address='127.0.4." . ($name =~ /(\d)$/)[0]
        . ":$gport' warm='yes'", $state);
}
$t->write_file('node.xml', "<node>\n"
    . dom('old-000001', '<test:runstate>5</test:runstate>'
                        . '<test:hasmanagedsave/>')
    . dom('old-000002', '<test:runstate>3</test:runstate>')
    . "</node>\n");

my $warm = "    warm_pool: { size: 2, state: paused, reuse_on_scale_in: true, "
         . "wake_timeout: 1s }\n"
         . "    upgrade: { mode: manual }\n";     # in service: left as is
my $saved = "    warm_pool: { size: 2, state: saved }\n";
my $s = Scaleset::Scaler->new($t, pools => [
    { name => 'web', readiness => 'tcp', cidr => '127.0.8.0/24',
      port => $gport, capacity => [0, 10, 2], drain_timeout => '5s',
      extra => $warm },
    { name => 'old', readiness => 'tcp', cidr => '127.0.4.0/24',
      port => $gport, capacity => [0, 5, 0],
      zones => [['z1', "test://$dir/node.xml"]], extra => $saved },
]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);
$s->guestsim_for('old', $ctl);   # old's instances served too

sub instances {
    my ($pool) = @_;
    my (undef, $j) = $s->api('GET', "/v1/pools/$pool/instances");
    return ref $j eq 'HASH' ? @{ $j->{instances} } : ();
}
sub warm_ids {
    my ($pool, $power) = @_;
    my @ids = sort map { $_->{id} } grep {
        $_->{state} eq 'warm' && (!$power || $_->{power} eq $power)
    } instances($pool // 'web');
    return @ids;
}

# --- capacity 2: 2 registered, 2 warm ------------------------------------
ok($t->wait_for(sub { keys %{ $s->members('web') } == 2
                      && warm_ids('web', 'paused') == 2 },
                timeout => 15, what => '2 registered, 2 warm paused'),
   'capacity 2 and a warm pool of 2: the warm instances are paused');
my @w = warm_ids('web');
my $m = $s->members('web');
ok(!(grep { $m->{$_} } @w), 'warm instances are not registered');
like($t->log('scaler'), qr/id=\Q$w[0]\E created in zone z1 .* \(warm pool 0 of 2\) rule=warm/,
     'created for the warm pool');
like($t->log('scaler'), qr/id=\Q$w[0]\E parked paused \(ready, kept paused\) rule=warm/,
     'parked once ready');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{running}, 2, 'not counted in the capacity (running 2)');
is_deeply($p->{warm_pool}, { size => 2, state => 'paused',
                             reuse_on_scale_in => JSON::PP::true,
                             instances => 2, pending_launch => 0 },
          'warm_pool in the pool');
my (undef, $metrics) = $t->http_get('api', '/metrics');
like($metrics, qr/^scaleset_scaler_instances\{pool="web",state="warm"\} 2$/m,
     'metrics: 2 instances in state warm');
like($metrics, qr/^scaleset_scaler_warm_pool_size\{pool="web"\} 2$/m,
     'metrics: warm pool size');
my $sctl = "SCALESET_API=http://127.0.0.1:${\ $t->port('api')} "
         . $t->bin('scalesetctl');
my $out = `$sctl instances web 2>&1`;
like($out, qr/^\Q$w[0]\E\s+z1\s+warm\/paused\s/m,
     'scalesetctl instances: warm/paused');

# --- 2 -> 4: both warm instances taken, the pool refilled ----------------
my $mark = length $t->log('scaler');
$out = `$sctl scale web 4 --wait 2>&1`;
is($? >> 8, 0, 'scalesetctl scale web 4 --wait: done (the warm pool is '
   . 'not waited for)') or diag $out;
ok($t->wait_for(sub { keys %{ $s->members('web') } == 4 }, timeout => 10,
                what => '4 members'), '4 members');
$m = $s->members('web');
ok($m->{$w[0]} && $m->{$w[1]}, "the warm instances @w are the new members");
my $since = substr($t->log('scaler'), $mark);
like($since, qr/id=\Q$_\E woken from paused \(capacity 4, \d in service; from the warm pool \(paused\)\) rule=scale_out/,
     "$_ woken") for @w;
like($since, qr/id=\Q$_\E registered \S+ .*\(ready \d+ ms after its wake\)/,
     "$_ registered once ready again") for @w;
unlike($since, qr/created in zone \S+ at \S+ \([^)]*\) rule=scale_out/,
       'no domain defined for the capacity');
ok($t->wait_for(sub { my @n = warm_ids('web', 'paused');
                      @n == 2 && !grep { $_ eq $w[0] || $_ eq $w[1] } @n },
                timeout => 10, what => 'refilled'),
   'the warm pool is refilled to 2 by new instances');
my @refill = warm_ids('web');

# --- 4 -> 3: the drained one goes back to the warm pool -------------------
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'capacity 3');
my ($gone) = grep { !exists $s->members('web')->{$_} } keys %$m;
ok($t->wait_for(sub { keys %{ $s->members('web') } == 3
                      && warm_ids('web', 'paused') == 3 },
                timeout => 15, what => '3 members, 3 warm'),
   'the drained instance is back in the warm pool (3 warm)');
my ($back) = grep { !exists $s->members('web')->{$_} } keys %$m;
like($t->log('scaler'), qr/id=\Q$back\E parked paused \(drained, back to the warm pool \(reuse_on_scale_in, 3 warm\)\) rule=warm/,
     "$back parked instead of deleted");
unlike($t->log('scaler'), qr/id=\Q$back\E deleted/, 'not deleted');

# --- version 2: the warm instances are replaced ---------------------------
my %v1 = map { $_ => 1 } warm_ids('web');
my @serving = sort keys %{ $s->members('web') };
$s->{opt}{pools}[0]{version} = 2;
$s->write_config;
$mark = length $t->log('scaler');
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub {
    my @n = grep { $_->{state} eq 'warm' } instances('web');
    @n == 2 && !grep { $v1{$_->{id}} || $_->{version} ne '2'
                       || $_->{power} ne 'paused' } @n;
}, timeout => 15, what => 'warm of version 2'),
   'version 2: the warm pool is made of version 2 instances');
like(substr($t->log('scaler'), $mark),
     qr/deleted \(warm, model version 1 is not the latest: replaced\) rule=warm/,
     'the version 1 warm instances are deleted as outdated');
is_deeply([sort keys %{ $s->members('web') }], \@serving,
          'the instances in service are left as they were');

# --- a warm instance that does not come back -------------------------------
my ($bad) = warm_ids('web');      # the lowest id is woken first
my ($addr) = map { $_->{address} } grep { $_->{id} eq $bad } instances('web');
$t->write_file("$ctl/$bad", "dead\n");
my ($host, $port) = split /:/, $addr;
ok($t->wait_for(sub { !Scaleset::Test::port_open($port, $host) },
                timeout => 20, what => "$bad not listening"),
   "$bad no longer answers");
$mark = length $t->log('scaler');
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 4 });
ok($t->wait_for(sub { keys %{ $s->members('web') } == 4 }, timeout => 15,
                what => '4 members'), 'capacity 4 reached anyway');
$since = substr($t->log('scaler'), $mark);
like($since, qr/id=\Q$bad\E wake failed: not ready \(\w+\) within warm_pool\.wake_timeout \(1000 ms\)/,
     'its wake failed: not ready within wake_timeout');
like($since, qr/id=\Q$bad\E deleted \(its wake failed, to be replaced\) rule=warm/,
     'it is deleted');
ok(!exists $s->members('web')->{$bad}, 'it was never registered');
ok(!(grep { $_->{id} eq $bad } instances('web')), 'its domain is gone');
(undef, $metrics) = $t->http_get('api', '/metrics');
like($metrics, qr/^scaleset_scaler_errors_total\{pool="web",kind="wake"\} 1$/m,
     'counted as a wake error');
like($metrics, qr/^scaleset_scaler_warm_wakes_total\{pool="web"\} 1$/m,
     'the wake that put an instance in service is counted (since the '
     . 'reload)');

# --- adopted warm domains (saved and paused in libvirt) --------------------
ok($t->wait_for(sub { warm_ids('old', 'saved') == 2 }, timeout => 10,
                what => 'old: 2 saved'),
   'adopted as warm; the paused one saved (the pool keeps them saved)');
like($t->log('scaler'), qr/pool=old id=old-000002 parked saved \(paused, kept saved\) rule=warm/,
     'old-000002 parked saved');
unlike($t->log('scaler'), qr/pool=old id=old-000001 parked/,
       'old-000001 was saved already');
is(scalar keys %{ $s->members('old') }, 0, 'neither is registered');
unlike($t->log('scaler'), qr/pool=old id=\S+ created/,
       'no creation: the warm pool is full');
($code) = $s->api('PUT', '/v1/pools/old/capacity', { capacity => 1 });
ok($t->wait_for(sub { exists $s->members('old')->{'old-000001'} },
                timeout => 10, what => 'old-000001 registered'),
   'capacity 1: the lowest id is restored and registered');
like($t->log('scaler'), qr/pool=old id=old-000001 woken from saved/,
     'woken from its managed save');

$t->done;
