#!/usr/bin/perl
# Observability: the JSON status parses and matches the pool, the metrics
# pass promtool, counters survive a reload, the gateway's health report is
# in Redis, and a real Prometheus scrapes the gateway.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Time::HiRes qw(time);
use Test::More;
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx prometheus promtool)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2');

pool_set($r, 'web', {
    'web-1' => addr($t, 'b1') . ' zone=z1 version=3',
    'web-2' => addr($t, 'b2') . ' zone=z2 version=3 weight=2',
});

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=30s;
        scaleset_health_check interval=300ms timeout=200ms fails=1 passes=1;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /scaleset/status { scaleset_status; }
        location = /metrics { scaleset_metrics; }
    }
EOF

# requests answered before both members' first checks passed are the
# gateway's 502s: only the proxied ones are counted below
my $proxied = 0;
ok($t->wait_for(sub {
    my $c = count_backends($t, 'http', 6);
    $proxied += ($c->{b1} // 0) + ($c->{b2} // 0);
    ($c->{b1} // 0) && ($c->{b2} // 0);
}, timeout => 5, what => 'both up'), 'both members serve');

$t->backend('b2', status => 503);
my %codes;
for (1 .. 30) { my ($c) = $t->http_get('http', '/'); $codes{$c}++ }
$t->backend('b2');

# --- status ---------------------------------------------------------

my ($code, $body, $h) = $t->http_get('http', '/scaleset/status');
is($code, 200, 'status answers');
like($h->{'content-type'}, qr{^application/json}, 'status is JSON');
my $st = eval { decode_json($body) };
ok($st, 'status parses as JSON') or diag $body;

my $pool = $st->{pools}{web};
is($st->{gateway}, 'gw1', 'status names the gateway');
ok($st->{redis}{connected}, 'status: redis connected');
ok($st->{redis}{lease_pid}, 'status names the lease holder');
is($pool->{members_count}, 2, 'status: two members');
cmp_ok($pool->{epoch}, '>=', 1, 'status: the epoch');
my %m = map { $_->{id} => $_ } @{ $pool->{members} };
is_deeply([sort keys %m], ['web-1', 'web-2'], 'status lists the members');
is($m{'web-1'}{address}, addr($t, 'b1'), 'member address');
is($m{'web-2'}{zone}, 'z2', 'member zone');
is($m{'web-2'}{version}, '3', 'member version');
is($m{'web-2'}{weight}, 2, 'member weight');
is($m{'web-1'}{state}, 'up', 'member state');
is($m{'web-1'}{health}, 'up', 'member health');
is($m{'web-1'}{reason}, 'pass', 'member health reason');
cmp_ok($m{'web-1'}{last_check}, '>', 1.6e12, 'last check time (UNIX ms)');
ok(defined $m{'web-1'}{check_latency_ms}, 'check latency');
cmp_ok($m{'web-1'}{requests} + $m{'web-2'}{requests}, '>=',
       $proxied + ($codes{200} // 0) + ($codes{503} // 0),
       'requests: every proxied request counted');
cmp_ok($codes{503} // 0, '>', 0, 'the failing member answered 503s');
is($m{'web-2'}{responses}{'5xx'}, $codes{503} // 0,
   '5xx responses of the failing member counted');
cmp_ok($pool->{health_check}{results}{pass}, '>', 0, 'check results counted');

# --- metrics ---------------------------------------------------------

my ($mcode, $metrics, $mh) = $t->http_get('http', '/metrics');
is($mcode, 200, 'metrics answer');
like($mh->{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'text format 0.0.4');
my $file = $t->write_file('metrics.txt', $metrics);
my $out = `promtool check metrics < $file 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag $out;

for my $name (qw(scaleset_upstream_requests_total
                 scaleset_upstream_responses_total
                 scaleset_upstream_active_connections
                 scaleset_upstream_member_up
                 scaleset_upstream_response_seconds_bucket
                 scaleset_upstream_health_checks_total
                 scaleset_membership_epoch scaleset_redis_connected))
{
    like($metrics, qr/^$name\{?/m, "metric $name");
}
like($metrics, qr/^scaleset_upstream_member_up\{pool="web",member="web-1"\} 1$/m,
     'member_up labelled with pool and member');
like($metrics, qr/^scaleset_upstream_responses_total\{pool="web",member="web-2",code="5xx"\} (\d+)$/m,
     'responses by class');
like($metrics, qr/^scaleset_redis_connected 1$/m, 'redis connected');

my ($before) = $metrics =~ /^scaleset_upstream_requests_total\{pool="web",member="web-1"\} (\d+)$/m;

# --- counters survive a reload ----------------------------------------

ok($t->reload_nginx, 'reloaded');
my (undef, $after_reload) = $t->http_get('http', '/metrics');
my ($after) = $after_reload =~ /^scaleset_upstream_requests_total\{pool="web",member="web-1"\} (\d+)$/m;
cmp_ok($after // 0, '>=', $before, "counters survive reload ($before -> "
       . ($after // 'none') . ')');

# --- the health report in Redis -----------------------------------------

my $key = 'scaleset:{web}:health:gw1';
ok($t->wait_for(sub { $r->hlen($key) == 2 }, timeout => 5,
                what => 'health report'), 'health report written');
my %rep = $r->hgetall($key);
like($rep{'web-1'}, qr/^up conns=\d+ fails=0 checked=\d{13} at=(\d{13})$/,
     'health record of a member, with the time it was made');
my ($at) = $rep{'web-1'} =~ / at=(\d+)/;
cmp_ok(abs($at - time * 1000), '<', 5000, 'at= is the gateway\'s clock now');
my $ttl = $r->pttl($key);
ok($ttl > 0 && $ttl <= 3000, "health report expires ($ttl ms)");

# --- a real Prometheus scrapes the gateway ------------------------------

$t->start_prometheus(scrape => ['127.0.0.1:%%PORT_http%%'], interval => '1s');
my $res;
ok($t->wait_for(sub {
    $res = $t->prom_query('sum(scaleset_upstream_requests_total{pool="web"})');
    $res && @{ $res->{result} } && $res->{result}[0]{value}[1] > 0;
}, timeout => 20, what => 'prometheus has the counter'),
   'scaleset_upstream_requests_total queried through Prometheus')
    or diag explain $res;

$t->done;
