#!/usr/bin/perl
# Bounded failure (issue 16, What to build 3; CloudStack #9318: a
# template that never booted made an autoscaler create ~30 000 VMs for a
# group of at most 4).  Real scaler on the test driver, real Redis, a real
# Prometheus loading conf-examples/prometheus-rules.yml and scraping the
# scaler.
#
# Time is scaled: health.grace 1 s and interval 100 ms stand for a
# production pool's 60 s and 6 s, so 10 s of this test are 10 minutes of
# that pool's life.
#
#   web     a template that never becomes ready (nothing answers at its
#           addresses): capacity 2, repair.max_failures 3 -> 2 + 3 = 5
#           domains in 10 simulated minutes, no more; the pool says it is
#           suspended (API, scaleset_scaler_repair_state, scalesetctl
#           show, and the ScalesetRepairsSuspended alert fires in
#           Prometheus); POST .../repair/resume (scalesetctl
#           repair-resume) resumes: repairs again, suspended again; once
#           the guests answer, the pool serves;
#   broken  a template libvirt refuses (each creation fails): creation
#           backs off exponentially, a bounded number of attempts.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis prometheus scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $r = $t->redis;
my $gport = $t->port('guest');
$t->write_file('broken.xml', <<'EOF');
<domain type='nonesuch'>
  <name>{{name}}</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
EOF
my $s = Scaleset::Scaler->new($t, interval => '100ms', pools => [
    { name => 'web', readiness => 'tcp', cidr => '127.0.12.0/24',
      port => $gport, capacity => [0, 4, 2],
      extra => "    health: { uri: /healthz, timeout: 200ms, grace: 1s }\n"
             . "    repair: { max_failures: 3 }\n" },
    { name => 'broken', capacity => [0, 4, 2], cidr => '127.0.13.0/24',
      extra => "    repair: { max_failures: 3 }\n" } ]);
$s->write_config;
(my $y = $t->read_file('scaler.yaml')) =~ s{(- name: broken\n(?:.*\n)*?    template: \{ domain: )\S+dom\.xml}{$1$dir/broken.xml};
$t->write_file('scaler.yaml', $y);
$t->spawn(name => 'scaler', wait_port => 'api',
          cmd => [$t->bin('scaleset-scaler'), '-c', "$dir/scaler.yaml"]);
(my $rules = $t->read_file($t->root . '/conf-examples/prometheus-rules.yml'))
    =~ s/interval: 15s/interval: 1s/g;
$t->start_prometheus(scrape => ['127.0.0.1:%%PORT_api%%'],
                     interval => '500ms', rules => $rules);

sub pool {
    my (undef, $p) = $s->api('GET', '/v1/pools/' . $_[0]);
    return $p // {};
}
my $ctl = sub {
    my $out = `SCALESET_API=http://127.0.0.1:${\ $t->port('api')} @{[ $t->bin('scalesetctl') ]} @_ 2>&1`;
    return ($? >> 8, $out);
};
sub created { () = $t->log('scaler') =~ /pool=$_[0] id=\S+ created /g }

# --- a template that never becomes ready: 10 simulated minutes ----------
my $t0 = time;
ok($t->wait_for(sub { pool('web')->{repair}{state} eq 'suspended' },
                timeout => 20, what => 'suspended'), 'web: suspended');
my $p = pool('web');
like($p->{repair}{reason}, qr/^web-\d+ not ready within health\.grace \(connect/,
     'with the last failure as its reason');
is($p->{repair}{failures}, 3, 'after repair.max_failures (3) in a row');
like($t->log('scaler'), qr/pool=web repairs suspended: 3 failures in a row, the last web-\d+ not ready within health\.grace .*POST \/v1\/pools\/web\/repair\/resume resumes/,
     'logged, saying how to resume');
sleep 10 - (time - $t0) if time - $t0 < 10;
is(created('web'), 5, 'in 10 simulated minutes: 5 domains (capacity 2 + '
                      . 'max_failures 3), no more');
is($r->get('scaleset:{web}:seq'), 5, 'the sequence agrees');
is(scalar(() = $t->log('scaler') =~ /pool=web id=\S+ deleted \(not ready/g), 3,
   '3 repairs, then none');
is($r->hget('scaleset:{web}:repair', 'state'), 'suspended',
   'stored in PREFIX{POOL}:repair');
my (undef, $m) = $t->http_get('api', '/metrics');
like($m, qr/^scaleset_scaler_repair_state\{pool="web",state="suspended"\} 1$/m,
     'scaleset_scaler_repair_state{state="suspended"} 1');
like($m, qr/^scaleset_scaler_repair_state\{pool="web",state="active"\} 0$/m,
     'and active 0');
my ($rc, $out) = $ctl->('show', 'web');
like($out, qr/^repair: SUSPENDED after 3 failures in a row, the last: web-\d+ not ready .*scalesetctl repair-resume web\)$/m,
     'scalesetctl show says so');
my $alert;
ok($t->wait_for(sub {
    my $d = $t->prom_query('ALERTS{alertname="ScalesetRepairsSuspended",'
                           . 'alertstate="firing"}');
    ($alert) = grep { $_->{metric}{pool} eq 'web' } @{ $d->{result} // [] };
    $alert;
}, timeout => 30, interval => 0.5, what => 'the alert'),
   'Prometheus fires ScalesetRepairsSuspended (conf-examples/prometheus-rules.yml) for web');

# --- resume: repairs again, and suspended again -------------------------
($rc, $out) = $ctl->('repair-resume', 'web');
is($rc, 0, 'scalesetctl repair-resume web');
is($out, "web: repairs resumed\n", 'says so');
is($r->hget('scaleset:{web}:repair', 'state'), 'active', 'stored active');
ok($t->wait_for(sub { pool('web')->{repair}{state} eq 'suspended' },
                timeout => 20, what => 'suspended again'),
   'the template still never boots: suspended again');
is(scalar(() = $t->log('scaler') =~ /pool=web id=\S+ deleted \(not ready/g), 6,
   'after 3 more repairs');

# --- the guests answer: resumed, the pool serves ------------------------
my $gctl = "$dir/guestctl";
mkdir $gctl;
$s->guestsim($gctl);
my ($code, $b) = $s->api('POST', '/v1/pools/web/repair/resume');
is($code, 200, 'POST /v1/pools/web/repair/resume');
is($b->{repair}{state}, 'active', 'answered: active');
is($b->{repair}{failures}, 0, 'no failure in a row');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
                what => '2 members'), 'the pool serves');
is(pool('web')->{repair}{state}, 'active', 'active');

# --- creation that fails: exponential backoff ----------------------------
my $fails = () = $t->log('scaler') =~ /pool=broken id=\S+ create failed/g;
cmp_ok($fails, '>=', 5, "broken: creations failed ($fails)");
cmp_ok($fails, '<=', 16, 'in 30 s (30 simulated minutes), a bounded number '
                         . 'of attempts (200 passes would make 400)');
like($t->log('scaler'), qr/pool=broken creation backs off for \d+ ms \(\d+ failures in a row\)/,
     'the backoff is logged');
is(pool('broken')->{repair}{state}, 'suspended', 'broken: suspended');
like(pool('broken')->{repair}{reason}, qr/could not be created: define: .*nonesuch/,
     'because its creations fail');
$t->done;
