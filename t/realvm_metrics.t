# Host-side VM metrics on real guests, and autoscale on them: libvirtd
# started by the test, the scaler on conf-examples/scaler-qemu.yaml (its
# paths, ports and URI substituted; the guests of qemu-domain.xml with a
# balloon stats period of 1 s), Redis, nginx with the module, and a real
# Prometheus scraping the scaler's and the gateway's /metrics.  The
# guests' load switches (tools/guest-image.sh: /cgi-bin/load) drive them.
#   - the example passes -t; Prometheus loads conf-examples/prometheus-
#     rules.yml (windows of 3 s); each of the example's queries (recorded
#     series) and each shipped recording expression gives a number;
#   - one guest: every VM family is in the scaler's /metrics (memory in
#     the guest's own view), `promtool check metrics` passes on it;
#   - the pool runs on the example's queries (thresholds for a 96 MiB TCG
#     guest, for: 1s, cooldown: 1s):
#     memory: the guest holds 24 MiB -> memory_used_bytes rises -> the
#       memory rule scales out, the new guest serves through the gateway;
#       freed -> scale in, the removed instance's series leave /metrics;
#     CPU: the guest spins -> the CPU rule scales out; idle -> in;
#     network: the guest sends -> network_transmit_bytes_total rises ->
#       the network rule scales out; quiet -> in.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;

my $why = Scaleset::Libvirtd->skip_reason;
plan skip_all => $why if $why;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler prometheus)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvm-');
$lv->purge;
my $tpl = Scaleset::RealVM::template($t, $lv,
    qr/<stats period='\d+'\/>/ => "<stats period='1'/>");
my $lo = Scaleset::RealVM::port_range(8);
ok($lo, "port range $lo-" . ($lo + 7));

$t->start_redis;
my $redis = $t->redis;
Scaleset::RealVM::start_gateway($t, 'rvm', metrics => 1, workers => 1);
# conf-examples/prometheus-rules.yml, its windows and interval shortened
# (1m and 5m -> 3s, 15s -> 500ms), records the series the rules query
my $recfile = $t->read_file($t->root . '/conf-examples/prometheus-rules.yml');
my %record;     # recorded series => its expression as shipped
$record{$1} = $2 while $recfile =~ /^\s+- record: (\S+)\n\s+expr: (.+)$/mg;
(my $fast = $recfile) =~ s/\[[15]m\]/[3s]/g;
$fast =~ s/interval: 15s/interval: 500ms/g or BAIL_OUT('prometheus-rules.yml: no interval');
my $prom = $t->start_prometheus(
    scrape => ['127.0.0.1:%%PORT_api%%', '127.0.0.1:%%PORT_http%%'],
    interval => '500ms', rules => $fast);

# --- the shipped example ----------------------------------------------------
my $y = Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl,
    ports => $lo, drain_timeout => '2s', prometheus => $prom->{port},
    more => { qr/capacity: \{ min: 0, max: 8, default: 0 \}/
              => 'capacity: { min: 1, max: 1, default: 1 }' });
my %query;      # rule name => the shipped query (pool rvm)
$query{$1} = $2 while $y =~ /^      - name: ([\w.-]+)[^\n]*\n\s+query: '([^']+)'$/mg;
is_deeply([sort keys %query], [sort qw(cpu-high cpu-low memory-high
    memory-low network-high network-low busy idle)],
    'the example has out- and in-rules on CPU, memory, network, requests');
my $shipped = $t->write_file('shipped.yaml', $y);
my $bin = $t->bin('scaleset-scaler');
my $out = qx{$bin -t -c $shipped 2>&1};
is($? >> 8, 0, 'scaleset-scaler -t accepts the example (its rules)') or diag $out;

# the test's rules: the shipped queries (of series recorded with 3 s
# windows), thresholds for a 96 MiB TCG guest (~23 MiB of its ~60 MiB in
# use when idle, ~1 % CPU), for: 1s, cooldown: 1s
my %rule = (
    'cpu-high'     => ['>', 40,  1],  'cpu-low'     => ['<', 20,  -1],
    'memory-high'  => ['>', 65,  1],  'memory-low'  => ['<', 45,  -1],
    'network-high' => ['>', 1,   1],  'network-low' => ['<', 0.3, -1],
    'busy'         => ['>', 50,  1],  'idle'        => ['<', 10,  -1],
);
my $rules = "    rules:\n";
for my $name (sort keys %rule) {
    my ($op, $th, $ch) = @{ $rule{$name} };
    my $q = $query{$name};
    $rules .= "      - { name: $name, query: '$q', operator: \"$op\","
            . " threshold: $th, for: 1s, action: { change: $ch },"
            . " cooldown: 1s"
            . ($name =~ /^memory/ ? ', per_instance: false' : '') . " }\n";
}
(my $ty = $y) =~ s/^    # autoscale .*//ms or BAIL_OUT('no rules block');
my $conf = $t->write_file('scaler.yaml', $ty . $rules);
$t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
          cmd => [$bin, '-c', $conf]);

# --- one guest: every family, promtool --------------------------------------
ok($t->wait_for(sub { keys %{ members() } == 1 }, timeout => 120,
                what => 'rvm-000001 registered'), 'min 1: a guest registered')
    or diag_state();
my $ga = 'rvm-000001';
my $aport = (members()->{$ga} // '') =~ /^127\.0\.0\.1:(\d+) / ? $1 : 0;
ok($t->wait_for(sub { defined vm(scaler_metrics(), 'memory_used_bytes', $ga, 'guest') },
                timeout => 30, what => 'guest memory statistics'),
   'memory_used_bytes{source="guest"}: the balloon driver reports');
my $m = scaler_metrics();
for my $f (qw(cpu_seconds_total vcpus memory_allocated_bytes
              memory_available_bytes network_receive_bytes_total
              network_transmit_bytes_total disk_read_bytes_total
              disk_written_bytes_total)) {
    ok(defined vm($m, $f, $ga), "scaleset_scaler_instance_$f of $ga");
}
is(vm($m, 'vcpus', $ga), 1, 'vcpus 1');
is(vm($m, 'memory_allocated_bytes', $ga), 96 * 1048576, 'allocated: 96 MiB');
my ($used0, $avail0) = (vm($m, 'memory_used_bytes', $ga, 'guest'),
                        vm($m, 'memory_available_bytes', $ga));
ok($used0 > 4 * 1048576 && $used0 + $avail0 < 96 * 1048576,
   sprintf('used %.1f MiB + available %.1f MiB: within the guest',
           $used0 / 1048576, $avail0 / 1048576));
cmp_ok(vm($m, 'disk_read_bytes_total', $ga), '>', 0, 'the guest read its disk');
promtool_ok($m, 'promtool check metrics passes on the scaler with every '
            . 'VM family present');

# every shipped query gives a number (a recorded rate once Prometheus
# has two samples of the series), and every expression of the shipped
# recording rules ([1m], [5m]) too, for this pool
for my $q ((map { [ "the example's $_ query", $query{$_} ] } sort keys %query),
           (map { [ "the recorded $_", "($record{$_}) and on (pool) "
                    . 'group by (pool) (scaleset_scaler_capacity_desired{pool="rvm"})' ] }
            grep { /^pool:scaleset_(instance|upstream)/ } sort keys %record)) {
    my $v;
    $t->wait_for(sub { defined($v = prom_value($q->[1])) },
                 timeout => 20, what => $q->[0]);
    ok(defined $v, "$q->[0] gives a number from Prometheus: " . ($v // 'none'))
        or diag(JSON::PP->new->canonical->encode(
                    $t->prom_query($q->[1]) // {}) . " for $q->[1]");
}

# the pool may grow now (a guest's boot keeps the CPU rule above its
# threshold: the limit held until the first guest was up and idle)
ok(calm(), 'one idle instance: every in-rule holds');
$ty =~ s/min: 1, max: 1, default: 1/min: 1, max: 2, default: 1/ or die;
$t->write_file('scaler.yaml', $ty . $rules);
my $mark = log_mark();
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { log_since($mark) =~ /configuration reloaded/ },
                timeout => 10), 'reloaded: max 2');

# --- memory -------------------------------------------------------------
$mark = log_mark();
is(load($aport, 'mem=24'), 'mem=24 cpu=off net=off', "$ga holds 24 MiB");
ok($t->wait_for(sub {
        (vm(scaler_metrics(), 'memory_used_bytes', $ga, 'guest') // 0)
        > $used0 + 20 * 1048576 }, timeout => 15, what => 'used rises'),
   'memory_used_bytes rises by more than 20 MiB');
scaled($mark, 'out', 'memory-high', 'the memory rule scales out');
my %seen;
ok($t->wait_for(sub {
        my ($c, $body) = $t->http_get("http", "/");
        $seen{$1}++ if ($c // 0) == 200 && ($body // '') =~ m{<h1>(rvm-\d+)</h1>};
        keys %seen >= 2;
    }, timeout => 120, interval => 0.25, what => 'the new guest serving'),
   'the new guest serves through the gateway: ' . join(' ', sort keys %seen))
    or diag_state();
my ($gb) = grep { $_ ne $ga } keys %seen;
$gb //= 'rvm-000002';
$mark = log_mark();
load($aport, 'mem=0');
scaled($mark, 'in', 'memory-low', 'freed: the pool scales in');
ok($t->wait_for(sub { !exists members()->{$gb} }, timeout => 20,
                what => "$gb deregistered"), "$gb drained and deregistered");
ok($t->wait_for(sub { my $x = scaler_metrics();
                      $x !~ /id="\Q$gb\E"/ }, timeout => 10,
                what => "$gb series gone"),
   "the removed $gb has no series in /metrics any more");

# --- CPU -------------------------------------------------------------------
ok(calm(), 'one idle instance again');
$mark = log_mark();
load($aport, 'cpu=on');
scaled($mark, 'out', 'cpu-high', 'the guest spins: the CPU rule scales out');
load($aport, 'cpu=off');
scaled($mark, 'in', 'cpu-low', 'idle again: the pool scales in');

# --- network ------------------------------------------------------------
ok(calm(), 'one idle instance again');
my $tx0 = vm(scaler_metrics(), 'network_transmit_bytes_total', $ga) // 0;
$mark = log_mark();
load($aport, 'net=on');
ok($t->wait_for(sub {
        (vm(scaler_metrics(), 'network_transmit_bytes_total', $ga) // 0)
        > $tx0 + 500_000 }, timeout => 15, what => 'tx rises'),
   'network_transmit_bytes_total rises by more than 500 kB');
scaled($mark, 'out', 'network-high',
       'the guest sends: the network rule scales out');
load($aport, 'net=off');
scaled($mark, 'in', 'network-low', 'quiet again: the pool scales in');
ok($t->wait_for(sub { pool()->{instances} == 1 }, timeout => 30),
   'one instance left');

$t->stop('scaler');
$t->done;

# ---------------------------------------------------------------------------

sub members { return { $redis->hgetall('scaleset:{rvm}:members') } }

sub pool {
    my ($c, $body) = $t->http_get('api', '/v1/pools/rvm');
    return eval { JSON::PP::decode_json($body) } // {};
}

sub scaler_metrics { return ($t->http_get('api', '/metrics'))[1] // '' }

# the value of scaleset_scaler_instance_FAMILY for id (and source)
sub vm {
    my ($text, $family, $id, $source) = @_;
    my $src = defined $source ? qq(,source="$source") : '(?:,source="\w+")?';
    return $text =~ /^scaleset_scaler_instance_$family\{pool="rvm",zone="z1",id="\Q$id\E"$src\} (\S+)$/m
        ? $1 + 0 : undef;
}

# a load switch of the guest (dd of 24 MiB in a TCG guest on a loaded
# host can take seconds)
sub load {
    my ($port, $q) = @_;
    require HTTP::Tiny;
    my ($c, $body) = $t->http_get($port, "/cgi-bin/load?$q",
        ua => HTTP::Tiny->new(timeout => 60, keep_alive => 0));
    chomp(my $s = $body // '');
    return $s;
}

sub prom_value {
    my ($q) = @_;
    my $d = $t->prom_query($q) or return undef;
    my $r = $d->{result};
    return undef unless ref $r eq 'ARRAY' && @$r == 1;
    my $v = $r->[0]{value}[1];
    return defined $v && $v =~ /^-?[\d.]+(?:e[-+]?\d+)?$/i ? $v + 0 : undef;
}

sub promtool_ok {
    my ($text, $name) = @_;
    my $f = $t->write_file('scaler-metrics.txt', $text);
    my $o = qx{promtool check metrics < $f 2>&1};
    is($? >> 8, 0, $name) or diag $o;
}

# the decision 1 -> 2 (out) or 2 -> 1 (in) logged since $mark, naming
# $rule among the rules behind it; a new guest's boot can keep the pool
# from scaling in for its ~7 s
sub scaled {
    my ($mark, $dir, $rule, $name) = @_;
    my $re = $dir eq 'out' ? qr/autoscale out rule=[^:]*\b\Q$rule\E\b[^:]*: 1 -> 2:/
                           : qr/autoscale in rule=[^:]*\b\Q$rule\E\b[^:]*: 2 -> 1:/;
    ok($t->wait_for(sub { log_since($mark) =~ $re },
                    timeout => $dir eq 'out' ? 30 : 90, what => "$rule $dir"),
       $name) or diag_state();
}

# the pool at one instance, and every in-rule holding (the last guest's
# boot, a switch just turned off, are over), as the scaler last saw them
sub calm {
    return $t->wait_for(sub {
        my $p = pool();
        my @in = grep { $rule{ $_->{name} }[2] < 0 }
                 @{ $p->{autoscale}{rules} // [] };
        ($p->{capacity} // 0) == 1 && ($p->{instances} // 0) == 1
            && @in == 4 && !grep { !$_->{holds} } @in;
    }, timeout => 90, what => 'an idle pool of one');
}

sub log_mark { return length($t->log('scaler') // '') }
sub log_since { return substr($t->log('scaler') // '', $_[0]) }

sub diag_state {
    diag(explain(members()));
    diag(($lv->virsh('list', '--all'))[1]);
    diag(JSON::PP->new->canonical->encode(pool()->{autoscale} // {}));
}
