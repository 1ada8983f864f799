#!/usr/bin/perl
# scaler: when a warm instance counts as parked (past its launch hook),
# on a libvirtd-served test driver (its domains outlive a scaler), with
# guestsim and real Redis:
#   - web (warm_pool size 1, paused, hooks.launch, through VirtProxy with
#     each domain start held 2 s): a listing that catches the warm domain
#     while it is being created (defined, shut off) shows it warm, power
#     running (as it will be), never saved; once ready it waits in the launch
#     hook (pending_launch) before its park, never parked without it;
#   - run (warm_pool size 2, running, hooks.launch 2 s, default abandon):
#     continue parks both; a restarted scaler finds them parked (their
#     tags say parked="yes"): they stay warm, running, past the 2 s
#     timeout, never in the hook again, none deleted, no repair failure.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;
use Scaleset::VirtProxy;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $dir = $t->dir;
my $gport = $t->port('guest');
my $lv = Scaleset::Libvirtd->start_test_driver($t, name => 'lvt');
my $px = Scaleset::VirtProxy->start($t, $lv->uri);
$px->delay(DOMAIN_CREATE => 2000);

my $s = Scaleset::Scaler->new($t, interval => '200ms', pools => [
    { name => 'web', readiness => 'tcp', cidr => '127.0.84.0/24',
      port => $gport, capacity => [0, 4, 0],
      zones => [['z1', $px->uri]],
      extra => "    warm_pool: { size: 1, state: paused }\n"
             . "    hooks:\n      launch: { timeout: 60s, default: abandon }\n" },
    { name => 'run', readiness => 'tcp', cidr => '127.0.85.0/24',
      port => $gport, capacity => [0, 4, 0],
      zones => [['z1', $lv->uri]],
      extra => "    warm_pool: { size: 2, state: running }\n"
             . "    hooks:\n      launch: { timeout: 2s, default: abandon }\n" },
]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);
$s->guestsim_for('run', $ctl);
my $sctl = "SCALESET_API=http://127.0.0.1:${\ $t->port('api')} "
         . $t->bin('scalesetctl');

sub insts {
    my ($pool) = @_;
    my (undef, $j) = $s->api('GET', "/v1/pools/$pool/instances");
    return ref $j eq 'HASH' ? @{ $j->{instances} } : ();
}
sub inst {
    my ($id, $pool) = @_;
    my ($i) = grep { $_->{id} eq $id } insts($pool);
    return $i // { state => 'gone', power => '' };
}

# --- web: listed while being created --------------------------------------
my %seen;
ok($t->wait_for(sub {
        for (insts('web')) { $seen{"$_->{state}/$_->{power}"}++ }
        grep { $_->{state} eq 'pending_launch'
               || ($_->{state} eq 'warm' && $_->{power} eq 'paused') }
             insts('web') },
    timeout => 30, interval => 0.05, what => 'web: in the hook or parked'),
   'web: the warm instance ready');
is(inst('web-000001', 'web')->{state}, 'pending_launch',
   'web: it waits in the launch hook before its park')
    or diag join "\n", grep { /web-0/ } split /\n/, $t->log('scaler');
ok(!$seen{'warm/saved'}, 'web: never shown warm/saved while being created')
    or diag explain \%seen;
ok($seen{'warm/running'}, 'web: shown warm, running, while created')
    or diag explain \%seen;
unlike($t->log('scaler'), qr/id=web-000001 parked/, 'web: not parked yet');

# --- run: parked warm instances across a restart --------------------------
for my $id (qw(run-000001 run-000002)) {
    ok($t->wait_for(sub { inst($id, 'run')->{state} eq 'pending_launch' },
                    timeout => 30, what => "$id in the hook"),
       "run: $id waits in the launch hook");
    my $out = `$sctl complete run $id --hook launch --result continue 2>&1`;
    is($? >> 8, 0, "run: complete $id continue") or diag $out;
}
for my $id (qw(run-000001 run-000002)) {
    ok($t->wait_for(sub { $t->log('scaler') =~ /id=$id parked running/ },
                    timeout => 10, what => "$id parked"),
       "run: $id parked running");
    like(($lv->virsh('metadata', $id, 'https://scaleset.dev/xmlns/instance/1'))[1],
         qr/parked=.yes./, "run: $id tagged parked=\"yes\"");
}
$t->stop('scaler');
my $mark = length $t->log('scaler');
$s->start;
ok($t->wait_for(sub { grep { $_->{state} eq 'warm' } insts('run') },
                timeout => 15, what => 'run listed again'),
   'run: found again after the restart');
sleep 4;    # past the hook's 2 s timeout
for my $id (qw(run-000001 run-000002)) {
    my $i = inst($id, 'run');
    is($i->{state}, 'warm', "run: $id still warm after the restart");
    is($i->{power}, 'running', "run: $id running");
}
my $after = substr($t->log('scaler'), $mark);
unlike($after, qr/id=run-00000[12] pending_launch/,
       'run: neither waits in the launch hook again');
unlike($after, qr/id=run-00000[12] deleted/, 'run: neither deleted');
my (undef, $p) = $s->api('GET', '/v1/pools/run');
is($p->{repair}{failures}, 0, 'run: no repair failure counted');

$t->done;
