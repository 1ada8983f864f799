#!/usr/bin/perl
# scaler: zone failover and rebalance.  Two zones, each a libvirtd of its
# own serving the test driver.  z2's libvirtd SIGSTOPped longer than
# zone_failover (3 s here): its instances are counted as lost (kept, not
# deleted) and their capacity is rebuilt in z1.  SIGCONT: the instances
# from before the failure are drained and deleted (nothing runs twice),
# then the pool rebalances one move at a time (a new instance in z2
# first, then one of z1 drains) until the zones are 2/2 again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my @h = map { Scaleset::Libvirtd->test_host($t, $_) } qw(h1 h2);
my $s = Scaleset::Scaler->new($t,
    top_extra => "libvirt: { timeout: 1s, keepalive_interval: 1s,"
               . " keepalive_count: 2 }\nzone_failover: 3s\n",
    pools => [ { name => 'web', capacity => [0, 20, 4],
                 zones => [['z1', $h[0]->uri], ['z2', $h[1]->uri]] } ]);
$s->start;

sub domains {
    my ($h) = @_;
    my ($rc, $out) = $h->virsh('list', '--all', '--name');
    return $rc ? undef : [sort grep { /^web-/ } split /\s+/, $out];
}
# members by zone, without those draining
sub zones {
    my %n;
    for (values %{ $s->members('web') }) {
        $n{ /zone=(\S+)/ ? $1 : '-' }++ unless / drain\b/;
    }
    return \%n;
}
sub serving { my $z = zones(); my $n = 0; $n += $_ for values %$z; $n }

ok($t->wait_for(sub { my $z = zones(); ($z->{z1} // 0) == 2
                                        && ($z->{z2} // 0) == 2 },
                timeout => 20, what => '2/2'), '2/2 to begin with');
my @before = @{ domains($h[1]) };
is(scalar(@before), 2, 'z2 runs 2 domains');

# z2 gone for longer than zone_failover: z1 takes its capacity
$h[1]->pause;
my $stopped = time;
ok($t->wait_for(sub { (zones()->{z1} // 0) == 4 }, timeout => 20,
                what => 'z1 at 4'), "z2's capacity rebuilt in z1");
my $took = time - $stopped;
cmp_ok($took, '>=', 3, sprintf('not before zone_failover (%.1f s)', $took));
like($t->log('scaler'), qr/pool=web zone z2 \(\S+\) unreachable for \d+ s \(zone_failover 3 s\): its instances are counted as lost/,
     'the failover logged');
is(zones()->{z2}, 2, "z2's instances counted as lost, not deleted: their "
   . 'members stay');
is(scalar(@{ domains($h[0]) // [] }), 4, 'z1 runs 4');

# z2 back: its instances from before go, then one move at a time
my $most = 0;
$h[1]->resume;
ok($t->wait_for(sub {
        my $m = $s->members('web');
        # once those from before drain (or are gone), the moves begin
        if (!grep { $m->{$_} && $m->{$_} !~ / drain\b/ } @before) {
            my $n = serving();
            $most = $n if $n > $most;
        }
        my $d2 = domains($h[1]) // [];
        my $z = zones();
        ($z->{z1} // 0) == 2 && ($z->{z2} // 0) == 2
            && @{ domains($h[0]) // [] } == 2 && @$d2 == 2
            && !grep { / drain\b/ } values %{ $s->members('web') };
    }, timeout => 40, interval => 0.05, what => 'rebalanced 2/2'),
   'rebalanced to 2/2');
my $d2 = domains($h[1]);
ok(!grep({ my $o = $_; grep { $_ eq $o } @before } @$d2),
   "z2's instances from before the failure are gone: @before");
is(serving(), 4, 'at the capacity');
cmp_ok($most, '<=', 5, "never more than capacity + 1 serving (one move at a "
       . "time): $most");
my $log = $t->log('scaler');
my ($gone) = sort { $b <=> $a }
    map { $log =~ /pool=web id=\Q$_\E deleted .*rule=(?:failover|drain)/
          ? $-[0] : 1e9 } @before;
cmp_ok($log =~ /rule=rebalance/ ? $-[0] : 0, '>', $gone,
       'the instances from before were gone before the first rebalancing one');
like($log, qr/pool=web id=\Q$before[0]\E draining \(back from zone z2 host \S+ after its failover: its capacity was rebuilt/,
     'the first from before drained (rule failover)');
like($log, qr/pool=web id=\Q$before[1]\E (draining|deleted) .*rule=failover/,
     'the second too');
like($log, qr/created in zone z2 at \S+ \(zones z2 0, z1 4: a new one in z2 first, then one of z1 goes\) rule=rebalance/,
     'the rebalance created in z2 first');
like($log, qr/rule=rebalance.*\n(?:.*\n)*?.*draining \(capacity 4, 5 in service\) rule=scale_in/,
     'then one of z1 drained');

$t->done;
