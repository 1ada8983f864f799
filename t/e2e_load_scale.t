#!/usr/bin/perl
# End to end, every part real: Redis, nginx with the module (health checks),
# Prometheus scraping the gateway and the scaler, the scaler on libvirt's
# test driver over two zones with a requests-per-instance rule, the guest
# simulator serving each instance, and continuous load through the
# gateway with every response counted.
#
#   demand rises  -> the rule fires -> new instances are created, pass the
#                    gateway's health checks and receive traffic; the
#                    guests' load model (10 ms of one worker per request:
#                    100 req/s each at most) makes the lone instance's
#                    latency climb under 160 req/s and fall again once
#                    there are 5;
#   an instance dies in the simulator -> the gateway stops routing to it;
#   demand falls  -> instances drain and are deleted;
#   zero failed client requests through all of it, and the gateway's
#   own log of its answers to them agrees (all 200 within loadgen's 5 s),
#   so a failure of the system is told apart from one of the load
#   generator's own.
#
# Reports the time from each scale-out decision to the first request
# served by an instance it created.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use List::Util qw(max min sum);
use Time::HiRes qw(time sleep);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis nginx prometheus scaler)]);
my $dir = $t->dir;

$t->start_redis;

# the gateway: health checks every 500 ms, one failure takes a member out
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw1;
    # what the gateway answered each client (loadgen's requests only: its
    # User-Agent), beside what loadgen saw: a failure loadgen counts
    # that the gateway never answered as one is loadgen's own
    log_format answers '$msec $status "$upstream_addr" "$upstream_status" $request_time';
    map $http_user_agent $loadgen { scaleset-loadgen 1; default 0; }
    upstream web {
        scaleset web resync=5s;
        scaleset_health_check uri=/healthz interval=500ms timeout=400ms
                              fails=1 passes=1 mandatory;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        access_log %%DIR%%/nginx/answers.log answers if=$loadgen;
        location / {
            proxy_pass http://web;
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 1s;
        }
        location = /metrics { scaleset_metrics; }
        location = /status { scaleset_status; }
    }
EOF

my $prom = $t->start_prometheus(
    scrape => ['127.0.0.1:%%PORT_http%%', '127.0.0.1:%%PORT_api%%'],
    interval => '500ms');

# requests per instance over the last 2 s, from the gateway's counters
my $q = 'sum(rate(scaleset_upstream_requests_total{pool="web"}[2s]))'
      . ' / count(scaleset_upstream_member_up{pool="web"} == 1)';
my $rules = <<"EOF";
    health: { uri: /healthz }
    rules:
      - { name: busy, query: '$q', operator: ">", threshold: 40, for: 1s,
          action: { change: 2 }, cooldown: 3s }
      - { name: idle, query: '$q', operator: "<", threshold: 12, for: 2s,
          action: { change: -1 }, cooldown: 2s }
EOF
my $s = Scaleset::Scaler->new($t, interval => '250ms',
    top_extra => "prometheus: { url: \"http://127.0.0.1:$prom->{port}\","
               . " timeout: 1s }\n",
    pools => [ { name => 'web', capacity => [1, 5, 1],
                 zones => [['z1', 'test:///default'],
                           ['z2', 'test:///default']],
                 cidr => '127.0.77.0/24', port => $t->port('guest'),
                 readiness => 'tcp', drain_timeout => '5s',
                 extra => $rules } ]);
$s->start;

my $ctl = "$dir/guestsim";
mkdir $ctl;
$t->spawn(name => 'guestsim', cmd => [$^X, $t->root . '/tools/guestsim',
    '--api', 'http://127.0.0.1:' . $t->port('api'), '--pool', 'web',
    '--control', $ctl, '--interval', '0.1', '--cost', '10',
    '--concurrency', '1'], wait => sub { 1 });

sub pool { my ($c, $p) = $s->api('GET', '/v1/pools/web'); $c == 200 ? $p : {} }
sub up_members {
    my ($code, $body) = $t->http_get('http', '/status');
    return {} unless $code == 200;
    my $st = eval { decode_json($body) } or return {};
    my $web = $st->{pools}{web} // {};
    return { map { $_->{id} => $_->{state} } @{ $web->{members} // [] } };
}

ok($t->wait_for(sub { my $m = up_members(); (grep { $_ eq 'up' } values %$m) == 1 },
                timeout => 15, what => 'first instance up in the gateway'),
   'the pool starts with one instance, up in the gateway');

# --- load ------------------------------------------------------------------

my $rate = "$dir/rate";
my $stats = "$dir/stats.json";
sub set_rate { $t->write_file('rate.tmp', "$_[0]\n");
               rename "$dir/rate.tmp", $rate or die $! }
sub stats {
    open my $fh, '<', $stats or return {};
    local $/;
    return eval { decode_json(<$fh>) } // {};
}
set_rate(20);
$t->spawn(name => 'loadgen', cmd => [$^X, $t->root . "/tools/loadgen",
    'http://127.0.0.1:' . $t->port('http') . '/', $rate, $stats],
    wait => sub { -s $stats });
$t->wait_for(sub { (stats()->{ok} // 0) > 20 }, timeout => 10,
             what => 'load flowing');
sleep 3;
is(pool()->{capacity}, 1, '20 req/s on one instance: no rule fires');

# demand rises: 160 req/s, 160 per instance -> +2 -> 53 -> +2 -> 32
my (%decided, %known, @slots);
$known{$_->{id}} = 1 for @{ pool()->{instances_list} // [] };
set_rate(160);
my $cap = 1;
my $peak = 0;       # the highest median latency seen while scaling out
ok($t->wait_for(sub {
    my $p50 = stats()->{latency_ms}{p50} // 0;
    $peak = $p50 if $p50 > $peak;
    my $p = pool();
    my $c = $p->{capacity} // $cap;
    # each step up opens one slot per new instance at the time it was
    # seen; an instance that shows up (maybe a pass later) takes the
    # oldest open slot
    push @slots, (time) x ($c - $cap) if $c > $cap;
    $cap = $c if $c > $cap;
    for my $i (@{ $p->{instances_list} // [] }) {
        next if $known{$i->{id}}++;
        $decided{$i->{id}} = shift @slots if @slots;
    }
    return $cap == 5 && !@slots;
}, timeout => 40, interval => 0.05, what => 'capacity 5'),
   'demand rises: the rule scales the pool out to its max (1 -> 3 -> 5)');
like($t->log('scaler'), qr/pool=web autoscale out rule=busy: 1 -> 3/,
     'the first step is logged with its rule');

# the new instances pass the health checks and take traffic
ok($t->wait_for(sub {
    my $m = up_members();
    (grep { $_ eq 'up' } values %$m) == 5;
}, timeout => 30, what => '5 members up'), 'all 5 instances are up in the gateway');
ok($t->wait_for(sub {
    my $h = stats()->{hits} // {};
    5 <= grep { ($h->{$_} // 0) > 10 } keys %$h;
}, timeout => 20, what => 'traffic on 5'), 'and each of them serves requests');
sleep 2;
my $calm = stats()->{latency_ms}{p50} // 0;
diag(sprintf 'median latency: %.0f ms at the peak on 1 instance, %.0f ms on 5',
     $peak, $calm);
cmp_ok($peak, '>', 3 * $calm,
       'latency climbed on the overloaded instance and fell with capacity');

# time from the decision to the first request served by a new instance
my $first = stats()->{first} // {};
for my $id (sort keys %decided) {
    # the decision time is when the API first showed the capacity step
    # (polled every 50 ms), whichever pass then created the instance
    my $dt = defined $first->{$id} ? $first->{$id} - $decided{$id} : undef;
    diag(sprintf "%s: decision to first request %s", $id,
         defined $dt ? sprintf('%.2f s', $dt) : 'never');
}
my @dts = sort { $a <=> $b } grep { defined }
          map { defined $first->{$_} ? $first->{$_} - $decided{$_} : undef }
          keys %decided;
is(scalar @dts, 4, 'every new instance served requests');
diag(sprintf 'decision -> first request served: median %.2f s, max %.2f s',
     $dts[$#dts / 2], $dts[-1]) if @dts;

# --- an instance dies ---------------------------------------------------------

my ($victim) = sort keys %{ up_members() };
my $before = stats();
$t->write_file("guestsim/$victim", "dead\n");
my $t0 = time;
ok($t->wait_for(sub { (up_members()->{$victim} // '') ne 'up' },
                timeout => 5, interval => 0.05, what => "$victim down"),
   'a dead instance is taken out of the gateway');
my $out_after = time - $t0;
cmp_ok($out_after, '<', 2, sprintf 'within 2 s (%.2f s)', $out_after);
sleep 1;
my $h1 = stats()->{hits}{$victim} // 0;
sleep 2;
is(stats()->{hits}{$victim} // 0, $h1, 'and gets no requests afterwards');
is(stats()->{failed} // 0, 0, 'no client request failed when it died')
    or failures();
unlink "$dir/guestsim/$victim";

# --- demand falls ---------------------------------------------------------

set_rate(8);
ok($t->wait_for(sub { (pool()->{capacity} // 0) == 1 }, timeout => 60,
                interval => 0.1, what => 'capacity 1'),
   'demand falls: the pool scales in to its min');
like($t->log('scaler'), qr/pool=web autoscale in rule=idle/,
     'scale-in decisions are logged with their rule');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 1 }, timeout => 30,
                what => 'one member'), 'drained instances are deregistered');
ok($t->wait_for(sub { (pool()->{instances} // 0) == 1 }, timeout => 30,
                what => 'one instance'), 'and deleted');
like($t->log('scaler'), qr/pool=web id=\S+ draining/, 'they drained first');

sleep 2;
$t->stop('loadgen');
my $st = stats();
diag("requests: $st->{ok} ok, $st->{failed} failed");
cmp_ok($st->{ok}, '>', 1000, 'the load ran throughout');
is($st->{failed}, 0, 'zero failed client requests through it all')
    or failures();
# the gateway's side: every request of loadgen's it took it answered 200
# within loadgen's 5 s, so a failure above is the gateway's (or the
# guests') only if it shows here too; one loadgen counts alone (a timeout
# or connect error of its own on a starved machine) is the load
# generator's
my $answers = () = ($t->read_file("$dir/nginx/answers.log") // '') =~ /\n/g;
cmp_ok($answers, '>=', $st->{ok}, "the gateway logged its answers ($answers)");
my @bad = gateway_failures();
is(scalar @bad, 0, 'the gateway answered every client request 200 within 5 s')
    or diag join "\n", @bad[0 .. min(9, $#bad)];

$t->done;

# the gateway's answers to loadgen that count as failed: not 200, or
# later than loadgen waits (5 s); "TIME STATUS UPSTREAMS STATUSES SECONDS"
sub gateway_failures {
    my $log = $t->read_file("$dir/nginx/answers.log") // '';
    return grep { !/^\S+ 200 / || (/ ([\d.]+)$/ && $1 >= 5) }
           split /\n/, $log;
}

# what failed, as loadgen saw it and as the gateway answered it
sub failures {
    my $st = stats();
    diag explain $st->{codes}, $st->{errors};
    my @g = gateway_failures();
    diag(@g ? "the gateway answered:\n" . join("\n", @g[0 .. min(9, $#g)])
            : 'the gateway answered every request it got 200: '
              . 'the failures are loadgen\'s own');
}
