#!/usr/bin/perl
# Autoscale in the daemon: a real scaler (test:///default), real Redis and
# a real Prometheus scraping values the test controls and the scaler's own
# /metrics.  A fixed-date schedule a few seconds ahead raises a pool's
# capacity to its min; a high value scales out by the rule's step after
# for: (stored in PREFIX{POOL}:capacity, instances in Redis), the next
# step waits for the cooldown; low values scale in only when ALL in-rules
# hold; Prometheus killed -> no action and metric_errors_total rises.
# A manual capacity is held until a rule acts, and the rule moves on from
# it.  Host-side VM metrics follow the instances; scalesetctl show
# explains the rules; SIGHUP adds and removes runners and keeps rule
# state; conf-examples/scaler.yaml and scaler-qemu.yaml pass -t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;
use JSON::PP;

my $t = Scaleset::Test->new(need => [qw(redis prometheus scaler)]);

# the shipped example (a CPU rule over the VM metrics, a requests-per-
# instance rule over the gateways' metrics, a schedule) passes -t
{
    my ($root, $bin) = ($t->root, $t->bin('scaleset-scaler'));
    my $out = qx{cd $root && $bin -t -c conf-examples/scaler.yaml 2>&1};
    is($? >> 8, 0, 'scaleset-scaler -t accepts conf-examples/scaler.yaml')
        or diag $out;
    # the queries read series recorded by prometheus-rules.yml
    # (t/prometheus_rules.t checks each is recorded there)
    my $ex = $t->read_file("$root/conf-examples/scaler.yaml");
    my $rec = $t->read_file("$root/conf-examples/prometheus-rules.yml");
    like($ex, qr/query: 'pool:scaleset_instance_cpu:percent_rate1m/,
         'the example has a CPU rule over the VM metrics');
    like($rec, qr/record: pool:scaleset_instance_cpu:percent_rate1m\n\s+expr: .*rate\(scaleset_scaler_instance_cpu_seconds_total.*scaleset_scaler_instance_vcpus/,
         'recorded from the host-side CPU counter over the vCPUs');
    like($ex, qr/query: 'pool:scaleset_upstream_requests_per_member:rate1m/,
         'and a requests-per-instance rule over the gateway metrics');
    like($rec, qr/record: pool:scaleset_upstream_requests:rate1m\n\s+expr: .*scaleset_upstream_requests_total/,
         'recorded from the requests');
    like($rec, qr/record: pool:scaleset_upstream_members_up:count\n\s+expr: .*scaleset_upstream_member_up/,
         'over the members up');
    # the real-guest example with its rules of every kind (its template
    # path made this checkout's; t/realvm_metrics.t runs them)
    my $q = $t->read_file("$root/conf-examples/scaler-qemu.yaml");
    $q =~ s{/etc/scaleset/qemu-domain\.xml}{$root/conf-examples/qemu-domain.xml};
    my $f = $t->write_file('scaler-qemu.yaml', $q);
    $out = qx{$bin -t -c $f 2>&1};
    is($? >> 8, 0, 'scaleset-scaler -t accepts conf-examples/scaler-qemu.yaml')
        or diag $out;
    for my $k (qw(cpu memory network)) {
        like($q, qr/- name: $k-high\n\s+query: 'pool:scaleset_instance_$k\w*:/,
             "it has a $k rule over the VM metrics");
    }
}

my $metrics = $t->dir . '/metrics.txt';
sub set_load {
    my (%v) = @_;
    my $text = join '', map { "scaleset_test_load{instance_id=\"$_\"} $v{$_}\n" }
                        sort keys %v;
    $t->write_file('metrics.tmp', $text);
    rename $t->dir . '/metrics.tmp', $metrics or die "rename: $!";
}
set_load(a => 20, b => 20);

$t->start_redis;
my $mport = $t->port('metrics');
$t->spawn(name => 'metrics',
          cmd => [$^X, "$FindBin::Bin/lib/metrics_endpoint.pl", $mport,
                  $metrics],
          wait_port => 'metrics');
my $prom = $t->start_prometheus(
    scrape => ["127.0.0.1:$mport", '127.0.0.1:%%PORT_api%%'],
    interval => '500ms');

# the schedule window: [start + 8 s, start + 14 s)
my $t0 = time;
my $fmt = sub { strftime('%Y-%m-%d %H:%M:%SZ', gmtime(int($_[0]))) };
my ($ws, $we) = (int($t0) + 8, int($t0) + 14);

my $rules = <<'EOF';
    rules:
      - { name: busy, query: 'max(scaleset_test_load)', operator: ">",
          threshold: 50, for: 2s, action: { change: 2 }, cooldown: 3s,
          per_instance: false }
      - { name: idle, query: 'max(scaleset_test_load)', operator: "<",
          threshold: 10, for: 1s, action: { change: -1 }, cooldown: 1s,
          per_instance: false }
      - { name: quiet, query: 'min(scaleset_test_load)', operator: "<",
          threshold: 5, action: { change: -1 }, per_instance: false }
EOF
my $s = Scaleset::Scaler->new($t, interval => '250ms',
    top_extra => "prometheus: { url: \"http://127.0.0.1:$prom->{port}\","
               . " timeout: 1s }\n",
    pools => [
        { name => 'web', capacity => [1, 6, 2], extra => $rules },
        { name => 'batch', capacity => [1, 4, 1], cidr => '127.0.2.0/24',
          extra => "    schedules:\n"
                 . "      - { name: window, start: \"" . $fmt->($ws)
                 . "\", end: \"" . $fmt->($we)
                 . "\", capacity: { min: 3, max: 6 } }\n" },
    ]);
$s->start;

sub pool {
    my ($name) = @_;
    my ($code, $p) = $s->api('GET', "/v1/pools/$name");
    return $code == 200 ? $p : {};
}
sub rule {
    my ($p, $name) = @_;
    my ($r) = grep { $_->{name} eq $name } @{ $p->{autoscale}{rules} // [] };
    return $r // {};
}
sub scaler_metrics { (my $m = ($t->http_get('api', '/metrics'))[1]) }
sub nmembers { scalar keys %{ $s->members($_[0]) } }

# --- a schedule window a few seconds ahead switches the min capacity ---

ok($t->wait_for(sub { nmembers('batch') == 1 && nmembers('web') == 2 },
                timeout => 10, what => 'default capacities'),
   'pools start at their default capacity');
is(pool('batch')->{autoscale}{profile}, 'default',
   'before the window: the default profile');
ok(time < $ws, 'checked before the window starts');
ok($t->wait_for(sub { (pool('batch')->{capacity} // 0) == 3 },
                timeout => 12, what => 'window'),
   'the window raises capacity to its min');
cmp_ok(time, '>=', $ws - 0.5, 'not before the window starts');
is(pool('batch')->{autoscale}{profile}, 'window', 'profile "window" active');
ok($t->wait_for(sub { nmembers('batch') == 3 }, timeout => 10,
                what => 'batch members'), 'and the instances follow');
my ($pc) = $s->api('PUT', '/v1/pools/batch/capacity', { capacity => 5 });
is($pc, 200, 'inside the window the API takes 5 (the window\'s max 6, '
   . 'above the default max 4)');
($pc) = $s->api('PUT', '/v1/pools/batch/capacity', { capacity => 7 });
is($pc, 400, 'but not 7');
ok($t->wait_for(sub { (pool('batch')->{autoscale}{profile} // '') eq 'default' },
                timeout => 12, what => 'window end'), 'the window ends');
is(pool('batch')->{capacity}, 4,
   'and the manual 5 is clamped to the default max 4 at once');

# --- scale out after for:, by the rule's step ---

ok($t->wait_for(sub { (rule(pool('web'), 'busy')->{value} // -1) == 20 },
                timeout => 15, what => 'busy = 20'),
   'the rules see the values through Prometheus');
is(pool('web')->{capacity}, 2, 'no rule fires at 20');

# a manual capacity is held while no rule would act
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'PUT capacity 3');
sleep 1.5;
is(pool('web')->{capacity}, 3, 'held by autoscale (no rule fires)');
ok($t->wait_for(sub { nmembers('web') == 3 }, timeout => 10,
                what => '3 members'), 'and reconciled');

set_load(a => 80, b => 20);
$t->wait_for(sub { (rule(pool('web'), 'busy')->{value} // 0) == 80 },
             timeout => 10, what => 'busy = 80', interval => 0.05);
my $seen = time;
ok($t->wait_for(sub { pool('web')->{capacity} == 5 }, timeout => 10,
                what => 'capacity 5', interval => 0.05),
   'high value: capacity 3 -> 5 (change: 2, from the manual capacity)');
my $out1 = time;
cmp_ok($out1 - $seen, '>=', 1.5, 'not before for: (2 s) held');
is($t->redis->get('scaleset:{web}:capacity'), 5,
   'the desired capacity is stored in Redis');
ok($t->wait_for(sub { nmembers('web') == 5 }, timeout => 10,
                what => '5 members'), 'instances appear in Redis');
like($t->log('scaler'), qr/pool=web autoscale out rule=busy: 3 -> 5/,
     'the decision is logged with its rule');

# host-side VM metrics: one series per running instance
sub vm_series {
    my ($m, $metric) = @_;
    my %v;
    $v{$1} = $2 while $m =~ /^scaleset_scaler_instance_${metric}\{pool="web",zone="z1",id="([^"]+)"\} (\S+)$/mg;
    return \%v;
}
my @ids = sort keys %{ $s->members('web') };
ok($t->wait_for(sub { join(',', sort keys %{ vm_series(scaler_metrics(),
                                              'cpu_seconds_total') })
                      eq join(',', @ids) }, timeout => 5,
                what => 'cpu series'),
   'instance_cpu_seconds_total for each running instance')
    or diag scaler_metrics();
my $mem = vm_series(scaler_metrics(), 'memory_allocated_bytes');
ok(@ids == 5 && !grep({ ($mem->{$_} // 0) != 64 * 1048576 } @ids),
   'instance_memory_allocated_bytes: the domain\'s 64 MiB') or diag explain $mem;
my $cpu = vm_series(scaler_metrics(), 'cpu_seconds_total');
ok(!grep({ $cpu->{$_} <= 0 } @ids), 'cpu seconds are positive');
ok($t->wait_for(sub {
        my $d = $t->prom_query('count(scaleset_scaler_instance_cpu_seconds_total{pool="web"})');
        $d && @{ $d->{result} } && $d->{result}[0]{value}[1] == 5 },
        timeout => 10, what => 'prometheus has the VM metrics'),
   'Prometheus scrapes them from the scaler');
ok($t->wait_for(sub { pool('web')->{capacity} == 6 }, timeout => 10,
                what => 'capacity 6', interval => 0.05),
   'next step: 5 -> 6 (clamped to max)');
cmp_ok(time - $out1, '>=', 2.8, 'only after the cooldown (3 s)');

# scalesetctl show explains it: profile and bounds, per rule the value,
# holds/fired, the window and the cooldown left
{
    my ($ctl, $api) = ($t->bin('scalesetctl'),
                       'http://127.0.0.1:' . $t->port('api'));
    # the evaluation after the step shows the cooldown
    my $out = '';
    $t->wait_for(sub { $out = qx{$ctl --api $api show web 2>&1};
                       $out =~ /^busy\s.*?\s([\d.]+)s ok/m && $1 > 0 },
                 timeout => 2, what => 'cooldown shown');
    like($out, qr/^autoscale: profile default \(min 1, max 6, default 2\); last decision/m,
         'show: the active profile and its bounds') or diag $out;
    like($out, qr/^busy\s+\S+\s+80\s+>\s+50\s+yes\s+(?:yes|no)\s+[\d.]+s\/2\.0s\s+([\d.]+)s ok/m,
         'show: busy with its value, holds, window and cooldown');
    my ($cool) = $out =~ /^busy\s.*?\s([\d.]+)s ok/m;
    cmp_ok($cool // 0, ">", 0, "busy is in its cooldown") or diag $out;
    like($out, qr/^quiet\s+\S+\s+20\s+<\s+5\s+no\s+no\s/m,
         'show: quiet does not hold');
    my $j = eval { JSON::PP::decode_json(scalar qx{$ctl --api $api --json show web}) } // {};
    my ($b) = grep { $_->{name} eq 'busy' } @{ $j->{autoscale}{rules} // [] };
    ok($b && $b->{value} == 80 && defined $b->{cooldown_left_s}
       && defined $b->{held_s} && $j->{autoscale}{profile} eq 'default',
       'show --json: the same explanation');
}
like(scaler_metrics(),
     qr/^scaleset_scaler_scaling_actions_total\{pool="web",rule="busy",direction="out"\} 2$/m,
     '/metrics: two scale-outs by busy');

# --- scale in only when ALL in-rules hold ---

set_load(a => 8, b => 7);
ok($t->wait_for(sub { (rule(pool('web'), 'idle')->{value} // 0) == 8 },
                timeout => 10, what => 'idle = 8'), 'low values seen');
sleep 2;
my $p = pool('web');
is($p->{capacity}, 6, 'no scale in while only idle holds (quiet: 7 > 5)');
ok(rule($p, 'idle')->{holds} && !rule($p, 'quiet')->{holds},
   'the explanation says which rule holds');

set_load(a => 8, b => 1);
my @six = sort keys %{ $s->members('web') };
ok($t->wait_for(sub { pool('web')->{capacity} < 6 }, timeout => 10,
                what => 'scale in', interval => 0.05),
   'all in-rules hold: scale in');

# --- Prometheus killed: no action, errors counted ---

$t->kill_server('prometheus', 'KILL');
ok($t->wait_for(sub { (rule(pool('web'), 'idle')->{status} // '')
                      eq 'unreachable' }, timeout => 10,
                what => 'unreachable'), 'the rules see Prometheus gone');
my $cap = pool('web')->{capacity};
my ($e1) = scaler_metrics() =~ /^scaleset_scaler_metric_errors_total\{pool="web",rule="idle",kind="unreachable"\} (\d+)$/m;
sleep 2;
is(pool('web')->{capacity}, $cap,
   'no action without data, though the last values were low');
my ($e2) = scaler_metrics() =~ /^scaleset_scaler_metric_errors_total\{pool="web",rule="idle",kind="unreachable"\} (\d+)$/m;
ok(defined $e1 && defined $e2 && $e2 > $e1,
   'scaleset_scaler_metric_errors_total rises') or diag "$e1 -> $e2";
# the instances removed by the scale-in leave the VM metrics
my %now = map { $_ => 1 } keys %{ $s->members('web') };
my @gone = grep { !$now{$_} } @six;
ok(@gone && $t->wait_for(sub {
        my $v = vm_series(scaler_metrics(), 'cpu_seconds_total');
        !grep { exists $v->{$_} } @gone }, timeout => 10,
        what => 'series gone'),
   "scaled-in instances (@gone) leave instance_cpu_seconds_total");

my @lost = $t->log('scaler') =~ /pool=web autoscale: rule idle: no value \(unreachable/g;
is(scalar @lost, 1, 'the lost value is logged once');

# --- SIGHUP: kept pools keep their rule state, new pools get a runner,
# pools without rules or schedules lose theirs ---

$s->{opt}{pools}[1]{extra} = '';
push @{ $s->{opt}{pools} }, { name => 'api', capacity => [0, 3, 0],
    cidr => '127.0.3.0/24',
    extra => "    schedules:\n"
           . "      - { name: always, cron: \"* * * * *\","
           . " capacity: { min: 1, max: 3 } }\n" };
$s->write_config;
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $t->log('scaler') =~ /configuration reloaded/ },
                timeout => 10, what => 'reload'), 'reloaded');
ok($t->wait_for(sub { (pool('api')->{autoscale}{profile} // '') eq 'always' },
                timeout => 10, what => 'api runner'),
   'a new pool with a schedule gets a runner');
ok($t->wait_for(sub { nmembers('api') == 1 }, timeout => 10,
                what => 'api member'), 'and its profile\'s min');
ok(!exists pool('batch')->{autoscale},
   'a pool that lost its schedules has no runner');
my ($e3) = scaler_metrics() =~ /^scaleset_scaler_metric_errors_total\{pool="web",rule="idle",kind="unreachable"\} (\d+)$/m;
cmp_ok($e3 // 0, '>=', $e2 // 1e9, 'web\'s rule state (error counts) survives the reload');
unlike(scaler_metrics(), qr/pool="batch",rule=|scaleset_scaler_autoscale_bounds\{pool="batch"/,
       'no autoscale metrics for batch any more');

$t->done;
