#!/usr/bin/perl
# scaler: nothing stalls a pass.  Two zones, each a libvirtd of its own
# serving the test driver; z2's libvirtd is SIGSTOPped (a hung host):
# the pass gives z2's calls up at libvirt.timeout and goes on, so z1
# keeps scaling out on schedule, the API answers in < 100 ms, and the
# watchdog (fed by the event loop, counted on our own NOTIFY_SOCKET)
# never misses WATCHDOG_USEC; the one slow pass is reported (log,
# STATUS=, metric), the scaler is not killed.  SIGCONT: z2 is back and
# the pool converges on it (the zones rebalanced).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my @h = map { Scaleset::Libvirtd->test_host($t, $_) } qw(h1 h2);
my $timeout = 2;                        # libvirt.timeout, s
my $s = Scaleset::Scaler->new($t,
    top_extra => "libvirt: { timeout: ${timeout}s, keepalive_interval: 1s,"
               . " keepalive_count: 2 }\nslow_pass: 1s\n",
    pools => [ { name => 'web', capacity => [0, 20, 2],
                 zones => [['z1', $h[0]->uri], ['z2', $h[1]->uri]] } ]);
$s->notify_socket;
$s->start(env => $s->notify_env(2_000_000));

my @notices;
sub notices { push @notices, $s->notices; return @notices }
sub zones {
    my %n;
    $n{ /zone=(\S+)/ ? $1 : '-' }++ for values %{ $s->members('web') };
    return \%n;
}
# members not draining, by zone
sub serving_zones {
    my %n;
    for (values %{ $s->members('web') }) {
        $n{ /zone=(\S+)/ ? $1 : '-' }++ unless / drain\b/;
    }
    return \%n;
}
sub capacity {
    my ($n) = @_;
    my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => $n });
    is($code, 200, "capacity $n");
}

ok($t->wait_for(sub { notices(); (zones()->{z1} // 0) == 1
                                  && (zones()->{z2} // 0) == 1 },
                timeout => 20, what => '1/1'), 'one instance per zone');
ok($t->wait_for(sub { grep { $_->[1] eq 'READY=1' } notices() },
                what => 'READY=1'), 'READY=1 after the first passes');

# z2 hangs
$h[1]->pause;
my $stalled = time;
my (@api_ms, $wd_from);
$wd_from = time;
sub watch {
    notices();
    my $t0 = time;
    my ($code) = $s->api('GET', '/v1/pools/web');
    push @api_ms, 1000 * (time - $t0) if $code == 200;
}
capacity(4);
ok($t->wait_for(sub { watch(); (zones()->{z1} // 0) == 3 }, timeout => 15,
                interval => 0.05, what => 'z1 at 3'), 'z1 scaled out while z2 hangs');
my $took = time - $stalled;
cmp_ok($took, '<', $timeout + 4, sprintf('on schedule: %.1f s after z2 '
       . 'stopped (libvirt.timeout %d s)', $took, $timeout));
is(zones()->{z2}, 1, "z2's instance kept, its member too");
my $t1 = time;
capacity(6);
ok($t->wait_for(sub { watch(); (zones()->{z1} // 0) == 5 }, timeout => 15,
                interval => 0.05, what => 'z1 at 5'), 'and again');
cmp_ok(time - $t1, '<', $timeout + 4, sprintf('on schedule: %.1f s',
       time - $t1));
# a few seconds more of z2 stopped: the watchdog keeps being fed
my $until = time + 3;
$t->wait_for(sub { watch(); time > $until }, timeout => 5, interval => 0.05);
like($t->log('scaler'), qr/pool=web zone z2 \(\S+\) unreachable \(no answer within libvirt\.timeout 2000 ms\)/,
     'z2 reported unreachable: no answer within libvirt.timeout');
my @wd = map { $_->[0] } grep { $_->[1] eq 'WATCHDOG=1' && $_->[0] >= $wd_from } @notices;
my $span = time - $wd_from;
my ($gap) = sort { $b <=> $a } map { $wd[$_] - $wd[$_ - 1] } 1 .. $#wd;
cmp_ok(scalar(@wd), '>=', int($span) - 1, sprintf('%d x WATCHDOG=1 in the '
       . '%.1f s z2 was stopped', scalar(@wd), $span));
cmp_ok($gap // 99, '<', 2, sprintf('never 2 s (WATCHDOG_USEC) without one: '
       . 'largest gap %.2f s', $gap // 99));
my ($max_ms) = sort { $b <=> $a } @api_ms;
cmp_ok($max_ms, '<', 100, sprintf('the API answered %d times, in at most '
       . '%.1f ms', scalar(@api_ms), $max_ms));
like($t->log('scaler'), qr/pool=web slow pass: /, 'the slow pass reported');
ok(scalar(grep { $_->[1] =~ /^STATUS=slow pass: web running for/ } @notices),
   'STATUS= says so');
my (undef, $m) = $t->http_get('api', '/metrics');
like($m, qr/^scaleset_scaler_slow_passes_total\{pool="web"\} [1-9]/m,
     'counted in scaleset_scaler_slow_passes_total');
like($m, qr/^scaleset_scaler_host_up\{pool="web",zone="z2",host="z2-1"\} 0$/m,
     'scaleset_scaler_host_up 0 for z2');
ok($t->alive('scaler'), 'the scaler is alive');

# a reload while z2 hangs: the running pass gives its calls up, the new
# state starts at once (the old host, stuck in its call, goes when that
# call returns: after SIGCONT)
my $t2 = time;
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { notices(); $t->log('scaler') =~ /configuration reloaded/ },
                timeout => 10, what => 'reloaded'), 'reloaded while z2 hangs');
cmp_ok(time - $t2, '<', 2, sprintf('at once: %.2f s', time - $t2));
capacity(7);
ok($t->wait_for(sub { notices(); (zones()->{z1} // 0) == 6 }, timeout => 15,
                what => 'z1 at 6'), 'the reloaded state scales z1 out');
my ($since_reload) = $t->log('scaler') =~ /configuration reloaded\n(.*)\z/s;
unlike($since_reload, qr/found domain|unreachable/, 'the new state kept '
       . "what the old one knew: the instances (z2's too: not rebuilt in "
       . 'z1) and that z2 is down');

# z2 back: it converges (its instance registered, new ones go there, the
# zones rebalance to 4/4, one move at a time)
$h[1]->resume;
ok($t->wait_for(sub { notices(); $t->log('scaler') =~ /zone z2 \(\S+\) is back/ },
                timeout => 15, what => 'z2 back'), 'z2 is back');
capacity(8);
ok($t->wait_for(sub { notices(); my $z = serving_zones();
                      ($z->{z1} // 0) == 4 && ($z->{z2} // 0) == 4
                      && keys %{ $s->members('web') } == 8 },
                timeout => 30, what => '4/4'), 'z2 converged: 4/4');
(undef, $m) = $t->http_get('api', '/metrics');
like($m, qr/^scaleset_scaler_host_up\{pool="web",zone="z2",host="z2-1"\} 1$/m,
     'scaleset_scaler_host_up 1 again');

# SIGTERM while a host hangs: the scaler does not wait for it
$h[1]->pause;
ok($t->wait_for(sub { notices(); $t->log('scaler') =~ /zone z2 \(\S+\) unreachable[^\n]*\n(?![\s\S]*is back)/ },
                timeout => 15, what => 'z2 stuck again'), 'z2 hangs again');
my $t3 = time;
$t->stop('scaler');
cmp_ok(time - $t3, '<', 3, sprintf('SIGTERM: the scaler exited in %.2f s '
       . 'with a call stuck', time - $t3));
# cleanly: after the stop only the pass that was in flight ends (its
# slow-pass report, which can come after the signal's line): no action,
# no error
my ($after) = $t->log('scaler') =~ /signal 15: stopping\n(.*)\z/s;
ok(defined $after && $after !~ /^(?!scaler: warn: pool=web slow pass: took )./m,
   'and cleanly') or diag("after the stop: " . ($after // 'no stop line'));
$h[1]->resume;

$t->done;
