#!/usr/bin/perl
# Chaos: Redis SIGSTOPped for 20 s under load (tools/loadgen through the
# gateway).  The gateway notices within its command timeout (the
# connection looks alive: TCP still accepts), says "stale" and since when
# in the status page and the metrics, keeps serving the last members with
# no failed request, does not pile health reports up for the stopped
# server, and after SIGCONT catches up: a membership change made during
# the stop reaches it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%% timeout=1s;
    scaleset_state_path %%DIR%%/state;
    upstream web {
        scaleset web resync=1s;
        scaleset_health_check interval=300ms timeout=200ms;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /status { scaleset_status; }
        location = /metrics { scaleset_metrics; }
    }
EOF

sub status { $t->gateway_status }

sub metric {
    my ($re) = @_;
    my (undef, $body) = $t->http_get('http', '/metrics', timeout => 2);
    return ($body // '') =~ /^$re (\S+)$/m ? $1 : undef;
}

sub execs {
    my ($info) = $r->info('commandstats');
    return ($info->{cmdstat_exec} // '') =~ /calls=(\d+)/ ? $1 : 0;
}

ok($t->wait_for(sub { my $c = count_backends($t, 'http', 6);
                      $c->{b1} && $c->{b2} }, what => 'served'), 'two members serve');
ok($t->wait_for(sub { my $s = status()->{pools}{web}; $s && !$s->{stale} },
                what => 'fresh'), 'not stale while Redis answers');

$t->start_loadgen(rate => 100);
sub load { $t->loadgen_stats }
ok($t->wait_for(sub { (load()->{ok} // 0) > 50 }, what => 'load running'),
   'load through the gateway');

# stop Redis; a writer makes a change meanwhile (its command waits)
my $execs0 = execs();
my $t_stop = time;
$t->signal('redis', 'STOP');
my $writer = fork // die "fork: $!";
if ($writer == 0) {
    require Redis;
    my $w = Redis->new(server => '127.0.0.1:' . $t->port('redis'),
                       read_timeout => 60);
    pool_set($w, 'web', { 'web-3' => addr($t, 'b3') });
    POSIX::_exit(0);
}

ok($t->wait_for(sub { status()->{pools}{web}{stale} }, timeout => 6,
                what => 'stale'), 'the gateway reports stale');
my $dt = time - $t_stop;
cmp_ok($dt, '<', 5, sprintf('within resync + timeout and its checks (%.1fs)', $dt));
my $st = status();
my $since = $st->{pools}{web}{stale_since} // 0;
cmp_ok($since, '<=', $t_stop * 1000 + 100, 'stale since the last read before the stop');
cmp_ok($since, '>', ($t_stop - 3) * 1000, 'which is recent');
is($st->{redis}{connected}, JSON::PP::false, 'and no longer "connected"');
cmp_ok($st->{redis}{errors_by_kind}{timeout}, '>=', 1, 'a timeout is counted');
like($st->{redis}{last_error}, qr/timeout/, 'and is the last error');
is(metric('scaleset_membership_stale\{pool="web"\}'), 1, 'metric: stale');
cmp_ok(metric('scaleset_redis_errors_total\{kind="timeout"\}'), '>=', 1,
       'metric: timeouts');
like($t->log('nginx'), qr/redis 127\.0\.0\.1:\d+ unavailable \(command: no reply in time\)/,
     'the hang is logged');

# the rest of the 20 s
sleep 0.2 while time < $t_stop + 20;
my $stopped = load();
my $c = count_backends($t, 'http', 10);
ok($c->{b1} && $c->{b2} && !$c->{b3}, 'the last members serve throughout')
    or diag explain $c;

$t->signal('redis', 'CONT');
sleep 1;
my $execs = execs() - $execs0;
ok(waitpid($writer, 0) == $writer && $? == 0, 'the change made during the stop went through');
# transactions Redis ran in the second after SIGCONT: the reconnect
# attempts' reads and a report or two, not 60 reports queued for it
cmp_ok($execs, '<', 25, "no pile of queued reports ($execs transactions)");

ok($t->wait_for(sub { my $c = count_backends($t, 'http', 9); $c->{b3} },
                timeout => 10, what => 'web-3'),
   'after SIGCONT the change made during the stop reaches the gateway');
ok($t->wait_for(sub { !status()->{pools}{web}{stale} }, timeout => 5,
                what => 'fresh again'), 'and it is no longer stale');
is(metric('scaleset_membership_stale\{pool="web"\}'), 0, 'metric too');
like($t->log('nginx'), qr/redis 127\.0\.0\.1:\d+ connected again/, 'reconnected');

$t->stop('loadgen');
my $l = load();
is($l->{failed}, 0, "no failed request under load ($l->{ok} answered, "
   . ($stopped->{ok} // 0) . ' by the end of the stop)') or diag explain $l;
cmp_ok($stopped->{ok} // 0, '>', 1000, 'the load went on during the stop');

$t->done;
