#!/usr/bin/perl
# The scaler's host-side VM metrics on libvirt's test driver, a real
# scaler and Redis: what test:///default reports (its stats records carry
# the state only; virDomainGetInfo gives the CPU time, which is the wall
# clock, the vCPUs and the memory; memory used/available, network and
# disk are not reported, so those families have no samples, never
# zeros), every running instance's series labelled pool, zone, id; a
# deleted instance's series are gone with the next pass and stay gone, a
# scaled-in one's too, a pool removed by a reload leaves no series;
# `promtool check metrics` passes on the output; the CPU % of the pool
# recorded by conf-examples/prometheus-rules.yml gives 100 % of a vCPU per
# instance in a real Prometheus.  (The families the test
# driver lacks, and autoscaling on them, are in t/realvm_metrics.t.)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Time::HiRes qw(time sleep);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler promtool prometheus)]);
$t->start_redis;
my $prom = $t->start_prometheus(scrape => ['127.0.0.1:%%PORT_api%%'],
                                interval => '250ms');
my $s = Scaleset::Scaler->new($t, interval => '200ms',
    pools => [ { name => 'web', capacity => [0, 5, 3] },
               { name => 'api', capacity => [0, 5, 1],
                 cidr => '127.0.2.0/24' } ]);
# 2 vCPUs, 64 MiB
$t->write_file('dom.xml', <<'EOF');
<domain type='test'>
  <name>{{name}}</name>
  <uuid>{{uuid}}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
EOF
$s->start;

sub metrics { return ($t->http_get('api', '/metrics'))[1] // '' }

# family => { id => value } for pool
sub series {
    my ($m, $family, $pool) = @_;
    my %v;
    $v{$1} = $2 while $m =~ /^scaleset_scaler_instance_$family\{pool="\Q$pool\E",zone="z1",id="([^"]+)"\} (\S+)$/mg;
    return \%v;
}
sub ids { return join ',', sort keys %{ $_[0] } }

ok($t->wait_for(sub { keys %{ $s->members('web') } == 3
                      && keys %{ series(metrics(), 'cpu_seconds_total', 'web') } == 3 },
                timeout => 10, what => '3 instances with metrics'),
   '3 running instances, each with its series');
my $m = metrics();
my @web = sort keys %{ $s->members('web') };
for my $f (qw(cpu_seconds_total vcpus memory_allocated_bytes)) {
    is(ids(series($m, $f, 'web')), join(',', @web),
       "scaleset_scaler_instance_$f for each instance, labelled pool, zone, id");
}
is_deeply([values %{ series($m, 'vcpus', 'web') }], [2, 2, 2], 'vcpus: 2 each');
is_deeply([values %{ series($m, 'memory_allocated_bytes', 'web') }],
          [(64 * 1048576) x 3], 'memory_allocated_bytes: 64 MiB each');
for my $f (qw(memory_used_bytes memory_available_bytes
              network_receive_bytes_total network_transmit_bytes_total
              disk_read_bytes_total disk_written_bytes_total)) {
    like($m, qr/^# TYPE scaleset_scaler_instance_$f (gauge|counter)$/m,
         "$f: described");
    unlike($m, qr/^scaleset_scaler_instance_$f\{/m,
           "$f: no samples (the test driver does not report it)");
}
unlike($m, qr/,instance="/, 'no "instance" label (Prometheus\' target label)');

# the test driver's CPU time is the wall clock: 1 CPU second per second
my ($c0, $w0) = (series(metrics(), 'cpu_seconds_total', 'web')->{$web[0]}, time);
sleep 1;
my ($c1, $w1) = (series(metrics(), 'cpu_seconds_total', 'web')->{$web[0]}, time);
cmp_ok(abs($c0 - $w0), '<', 60, "its cpu_seconds_total is the time since 1970 ($c0)");
my $rate = ($c1 - $c0) / ($w1 - $w0);
ok($rate > 0.5 && $rate < 1.5, sprintf('rising ~1 s per s (%.2f)', $rate));

# the CPU % of the pool as conf-examples/prometheus-rules.yml records it
# (its window 1m -> 3s) in a real Prometheus: 100 % of one vCPU per
# instance, so 50 % of two
{
    my ($q) = $t->read_file($t->root . '/conf-examples/prometheus-rules.yml')
              =~ /record: pool:scaleset_instance_cpu:percent_rate1m\n\s+expr: (.+)/;
    $q =~ s/\[1m\]/[3s]/g;
    my $v;
    ok($q && $t->wait_for(sub {
            my $d = $t->prom_query($q);
            ($v) = map { $_->{value}[1] }
                   grep { $_->{metric}{pool} eq 'web' } @{ $d->{result} // [] };
            defined $v && abs($v - 50) < 5 }, timeout => 20,
            what => 'CPU % query'),
       'the example\'s CPU % of the pool reads 50 % (2 vCPUs): '
       . ($v // 'none'));
}

my $f = $t->write_file('metrics.txt', metrics());
my $out = qx{promtool check metrics < $f 2>&1};
is($? >> 8, 0, 'promtool check metrics passes') or diag $out;

# a deleted instance: gone with the next pass, and stays gone
my $victim = $web[1];
my ($code) = $s->api('DELETE', "/v1/pools/web/instances/$victim");
is($code, 202, "DELETE $victim (accepted: drained, then deleted)");
my $t0 = time;
ok($t->wait_for(sub { !exists series(metrics(), 'cpu_seconds_total', 'web')->{$victim} },
                timeout => 2, interval => 0.02, what => 'victim gone'),
   "the series of $victim are gone");
my $gone = time - $t0;
cmp_ok($gone, '<', 0.6, sprintf('within the next pass (%.2f s, interval 0.2 s)', $gone));
my $back = 0;
for (1 .. 15) {
    my $x = metrics();
    $back++ if $x =~ /id="\Q$victim\E"/;
    sleep 0.1;
}
is($back, 0, 'and do not come back');
ok($t->wait_for(sub { keys %{ series(metrics(), 'vcpus', 'web') } == 3 },
                timeout => 10), 'its replacement has series of its own');

# scale in: the removed instances leave
my @before = sort keys %{ series(metrics(), 'vcpus', 'web') };
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
is($code, 200, 'capacity 1');
ok($t->wait_for(sub { keys %{ series(metrics(), 'vcpus', 'web') } == 1 },
                timeout => 15), 'scaled in: one instance\'s series left');
my %left = %{ series(metrics(), 'memory_allocated_bytes', 'web') };
is(scalar(grep { exists $left{$_} } @before), 1, 'the removed ones have none');

# a reload removing a pool: its series go
ok(keys %{ series(metrics(), 'vcpus', 'api') } == 1, 'pool api has its series');
$s->{opt}{pools} = [ $s->{opt}{pools}[0] ];
$s->write_config;
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $t->log('scaler') =~ /configuration reloaded/ },
                timeout => 10), 'reloaded without pool api');
ok($t->wait_for(sub { metrics() !~ /pool="api"/ }, timeout => 5),
   'no series of pool api');

$t->done;
