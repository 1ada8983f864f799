#!/usr/bin/perl
# kill -9 of the scaler in the middle of a rolling upgrade's batch, and a
# restart: the same batch resumes (its instances, the replacements made
# before the kill kept), the upgrade completes, no id is handed out twice,
# no domain is left without its member (or the other way round), no
# instance is replaced twice; the gateway serves through all of it.
#
# The domains must outlive the scaler, so the zones are libvirt's test
# driver served by a libvirtd the test starts (test+unix:///default on the
# harness's socket, t/lib/Scaleset/Libvirtd.pm): its state is the
# daemon's, not the scaler's process's, and lives while a connection is
# open (a `virsh event --loop` holds one).  The new version's guests do not
# listen until the test says so (guestsim's version-2 "dead"), which holds
# batch 1 open for the kill.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::RealVM;
use Scaleset::Libvirtd;

my $why = Scaleset::Libvirtd->skip_reason;
plan skip_all => $why if $why;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
my $uri = 'test+unix:///default?socket=' . $lv->dir . '/run/libvirt-sock';
my $dir = $t->dir;
$t->spawn(name => 'holder', cmd => ['virsh', '-c', $uri, 'event', '--all',
                                    '--loop']);
$t->start_redis;
Scaleset::RealVM::start_gateway($t, 'web', workers => 1,
    check => 'interval=300ms timeout=250ms fails=1 passes=1 mandatory');
my %pool = (name => 'web', capacity => [0, 8, 4],
            zones => [['z1', $uri], ['z2', $uri]],
            cidr => '127.0.89.0/24', port => $t->port('guest'),
            readiness => 'tcp', drain_timeout => '3s',
            extra => "    health: { grace: 60s }\n"
                   . "    upgrade: { max_batch_percent: 50 }\n");
my $s = Scaleset::Scaler->new($t, interval => '200ms', pools => [\%pool]);
$s->start;
my $ctl = "$dir/guestsim";
mkdir $ctl;
$s->guestsim($ctl);

sub upgrade { my ($c, $u) = $s->api('GET', '/v1/pools/web/upgrade');
              $c == 200 ? $u : {} }
sub domains {       # the pool's domains in the daemon
    my $out = qx{virsh -q -c '$uri' list --all --name 2>&1};
    return [ sort grep { /^web-\d+$/ } split /\s+/, $out ];
}
sub record { +{ $t->redis->hgetall('scaleset:{web}:upgrade') } }

ok($t->wait_for(sub {
        my $st = $t->gateway_status('http', '/scaleset/status');
        4 == grep { $_->{state} eq 'up' } @{ $st->{pools}{web}{members} // [] }
    }, timeout => 20, what => '4 members up'),
   '4 instances on a libvirtd, up in the gateway');
my @v1 = sort keys %{ $s->members('web') };
is_deeply(domains(), \@v1, 'their domains are the daemon\'s');
$t->start_loadgen(rate => 30);
ok($t->wait_for(sub { ($t->loadgen_stats->{ok} // 0) > 20 }, timeout => 10,
                what => 'load'), 'load through the gateway');

# version 2, whose guests do not listen yet: batch 1 stays open
$t->write_file('guestsim/version-2', "dead\n");
$pool{version} = 2;
$s->write_config;
$t->signal('scaler', 'HUP');
my $rec;
ok($t->wait_for(sub { $rec = record(); ($rec->{state} // '') eq 'rolling'
                      && ($rec->{instances} // '') ne '' },
                timeout => 10, what => 'batch 1'), 'batch 1 under way');
my @batch1 = split ' ', $rec->{instances};
is(scalar @batch1, 2, 'batch 1: 50 % of 4');
ok($t->wait_for(sub { my $d = domains(); @$d == 6 }, timeout => 10,
                what => 'its 2 replacements'), 'its replacements exist');
my @made = grep { my $d = $_; !grep { $_ eq $d } @v1 } @{ domains() };

$t->kill_server('scaler', 'KILL');
my $log1 = $t->log('scaler');
ok(!$t->alive('scaler'), 'kill -9 of the scaler mid-batch');
sleep 1;
is_deeply([split ' ', record()->{instances}], \@batch1,
          'the record still names batch 1');

$s->start;
unlink "$dir/guestsim/version-2";       # the new guests listen now
ok($t->wait_for(sub { (record()->{state} // '') eq 'done' }, timeout => 60,
                interval => 0.1, what => 'done'),
   'after the restart the upgrade completes');
# the last batch's old instances finish their drain after done
ok($t->wait_for(sub { my $m = $s->members('web');
                      join(' ', sort keys %$m) eq join(' ', @{ domains() })
                      && keys %$m == 4 }, timeout => 15,
                what => 'members = domains'),
   'no orphan: the members are exactly the domains');
my $log2 = substr($t->log('scaler'), length $log1);
unlike($log2, qr/started \(the template changed\)/,
       'the restarted scaler did not start another upgrade');
unlike($log2, qr/batch 1 of \d+ in zone/, 'nor batch 1 again');
like($log2, qr/batch 1 of \d+ done: 2 replaced/, 'it finished batch 1');
my $u = upgrade();
is($u->{batches}, 2, '2 batches (one per zone)');
is($u->{upgraded}, 4, '4 replaced');

# nothing twice, nothing left over
my $all = $log1 . $log2;
my %created;
$created{$_}++ for $all =~ /id=(web-\d+) created in zone/g;
ok(!grep({ $_ > 1 } values %created), 'no id created twice');
is(scalar keys %created, 8, '8 instances created in all (4 + 4)');
for my $id (@made) {
    is($created{$id}, 1, "$id (made before the kill) kept, not made again");
}
for my $id (@v1) {
    my $n = () = $all =~ /id=\Q$id\E deleted /g;
    is($n, 1, "$id replaced once");
}
my @in = $all =~ /batch instances: ([^\n]*?) rule=upgrade/g;
my %seen;
$seen{$_}++ for map { split ' ' } @in;
is_deeply([sort keys %seen], \@v1, 'the batches are the 4 version 1 ones');
ok(!grep({ $_ > 1 } values %seen), 'none in two batches');

my $m = $s->members('web');
ok(!grep({ !/ version=2$/ } values %$m), 'all on version 2');
is(scalar(grep { my $d = $_; grep { $_ eq $d } @v1 } @{ domains() }), 0,
   'no version 1 domain left');

my $ls = $t->loadgen_stats;
is($ls->{failed}, 0, "0 failed client requests of $ls->{ok}")
    or diag explain $ls->{codes};
$t->done;
