#!/usr/bin/perl
# Pass time with one of two zones stalled against both healthy.  Two
# zones, each a libvirtd of its own serving the test driver
# (Scaleset::Libvirtd->test_host), N instances (N/2 per zone), the real
# scaler and Redis.  Each round: PASSES passes with both zones healthy,
# then z2's libvirtd SIGSTOPped for STALL seconds (the capacity raised by
# 2 one second in), then SIGCONT and the zone back.  A phase's mean pass
# is exact: the scaler's own counters (scaleset_scaler_pass_seconds_total
# over scaleset_scaler_passes_total, read at its start and end); the
# passes that waited for z2 are the ones the scaler logs as longer than
# slow_pass (1 s, under libvirt.timeout).  Medians over the rounds.  The
# baseline (BASE, the scaler before per-host deadlines, built from git)
# is measured once: its pass that meets the stopped libvirtd ends only
# when the libvirtd is continued, so the raised capacity waits for the
# whole stall.
# bench-section: zone-stall
#   [ROUNDS=3 N=40 PASSES=20 STALL=10 TIMEOUT=2 BASE=b3c0c45] perl bench/zone-stall.pl

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

my $rounds = $ENV{ROUNDS} // 3;
my $n = $ENV{N} // 40;
my $passes = $ENV{PASSES} // 20;
my $stall = $ENV{STALL} // 10;
my $timeout = $ENV{TIMEOUT} // 2;
my $base = $ENV{BASE} // 'b3c0c45';
my $interval_ms = 200;
my $root = "$FindBin::Bin/..";

# the pool's passes as the scaler counts them: (ended, seconds they took)
sub counters {
    my ($t) = @_;
    my ($code, $m) = $t->http_get('api', '/metrics');
    die "zone-stall: /metrics: $code\n" unless ($code // 0) == 200;
    my ($ended) = $m =~ /^scaleset_scaler_passes_total\{pool="web"\} (\d+)/m;
    my ($secs) = $m =~ /^scaleset_scaler_pass_seconds_total\{pool="web"\} (\S+)/m;
    return ($ended, $secs);
}

# the passes the log has as slower than slow_pass after offset: seconds
sub slow_since {
    my ($t, $from) = @_;
    my $log = substr($t->log('scaler') // '', $from);
    return map { $_ / 1000 } $log =~ /slow pass: took (\d+) ms/g;
}

sub setup {
    my ($bin) = @_;
    my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
    $t->start_redis;
    my @h = map { Scaleset::Libvirtd->test_host($t, $_) } qw(h1 h2);
    my $s = Scaleset::Scaler->new($t, interval => "${interval_ms}ms",
        bin => $bin,
        top_extra => $bin ? '' : "libvirt: { timeout: ${timeout}s, "
            . "keepalive_interval: 1s, keepalive_count: 2 }\nslow_pass: 1s\n",
        pools => [ { name => 'web', cidr => '127.1.0.0/16',
                     capacity => [0, 1000, $n],
                     zones => [['z1', $h[0]->uri], ['z2', $h[1]->uri]] } ]);
    $s->start;
    $t->wait_for(sub { keys %{ $s->members('web') } == $n }, timeout => 120,
                 what => "$n members") or die "zone-stall: $n not reached\n";
    return ($t, $s, @h);
}

# members not draining
sub serving {
    my ($s) = @_;
    return scalar grep { !/ drain\b/ } values %{ $s->members('web') };
}

# z2 stopped for $stall s with the capacity raised by 2 one second in:
# how long until those 2 serve; then continued and settled again
sub stalled {
    my ($t, $s, $h) = @_;
    my ($applied, $t_put);
    $h->pause;
    my $t0 = time;
    while (time < $t0 + $stall) {
        if (!$t_put && time - $t0 >= 1) {
            $s->api('PUT', '/v1/pools/web/capacity', { capacity => $n + 2 });
            $t_put = time;
        }
        $applied //= time - $t_put if $t_put && serving($s) >= $n + 2;
        sleep 0.01;
    }
    $h->resume;
    my $t1 = time;
    $t->wait_for(sub { serving($s) >= $n + 2 }, timeout => 60);
    $applied //= time - $t_put;
    my $after = time - $t1;
    $s->api('PUT', '/v1/pools/web/capacity', { capacity => $n });
    $t->wait_for(sub { keys %{ $s->members('web') } == $n
                       && serving($s) == $n }, timeout => 60);
    return ($applied, $after);
}

# this build
my (@healthy, @stalled_mean, @rest, @waited, @worst, @applied);
my ($t, $s, @h) = setup(undef);
for my $r (1 .. $rounds) {
    my ($c0, $s0) = counters($t);
    $t->wait_for(sub { (counters($t))[0] >= $c0 + $passes }, timeout => 60);
    my ($c1, $s1) = counters($t);
    push @healthy, ($s1 - $s0) / ($c1 - $c0);

    my $from = length($t->log('scaler') // '');
    my ($applied) = stalled($t, $s, $h[1]);
    my ($c2, $s2) = counters($t);
    my @slow = slow_since($t, $from);
    my $sum_slow = 0;
    $sum_slow += $_ for @slow;
    # the stall's passes: from the stop to the settled pool after it
    push @stalled_mean, ($s2 - $s1) / ($c2 - $c1);
    push @rest, ($s2 - $s1 - $sum_slow) / ($c2 - $c1 - @slow);
    push @waited, scalar @slow;
    my ($w) = sort { $b <=> $a } @slow;
    push @worst, $w // 0;
    push @applied, $applied;
    printf STDERR "round %d: healthy %.1f ms (%d passes); stalled %.1f ms "
        . "mean over %d passes, %d waited (longest %.2f s), the others "
        . "%.1f ms; capacity +2 served after %.2f s\n", $r,
        1000 * $healthy[-1], $c1 - $c0, 1000 * $stalled_mean[-1],
        $c2 - $c1, $waited[-1], $worst[-1], 1000 * $rest[-1], $applied;
}
$t->stop_all;

# the baseline, built from git at BASE
my $bdir = "$root/build/bench/base-$base";
unless (-x "$bdir/build/scaleset-scaler") {
    system("rm -rf '$bdir' && mkdir -p '$bdir' && git -C '$root' archive "
           . "'$base' | tar -x -C '$bdir'") == 0
        or die "zone-stall: git archive $base failed\n";
    system("cd '$bdir' && nice make -j2 scaler > '$bdir.log' 2>&1") == 0
        or die "zone-stall: building the scaler at $base failed ($bdir.log)\n";
}
my ($bt, $bs, @bh) = setup("$bdir/build/scaleset-scaler");
my ($b_applied, $b_after) = stalled($bt, $bs, $bh[1]);
printf STDERR "baseline: capacity +2 served after %.2f s, %.2f s after "
    . "SIGCONT\n", $b_applied, $b_after;
$bt->stop_all;

my $machine = machine();
my $ratio = median(@rest) / median(@healthy);
print <<"EOF2";
### Pass time with a zone stalled (bench/zone-stall.pl)

Machine: $machine.
Two zones, each a libvirtd of its own serving libvirt's test driver, $n
instances (@{[ $n / 2 ]} per zone, `readiness: none`), `interval:
${interval_ms}ms`, `libvirt: { timeout: ${timeout}s, keepalive_interval:
1s, keepalive_count: 2 }`, `slow_pass: 1s`, a real redis-server. Each
round: $passes passes with both zones healthy, then z2's libvirtd
SIGSTOPped for $stall s, the capacity raised by 2 one second in, then
SIGCONT and the pool settled again. A phase's mean pass is the scaler's
own count (`scaleset_scaler_pass_seconds_total` over
`scaleset_scaler_passes_total`, read at its start and end: no pass
missed); the passes that waited for z2 are those it logged as longer
than `slow_pass`. Medians of $rounds rounds.

| | median | rounds |
|---|---|---|
EOF2
row('both zones healthy: mean pass', '%.1f ms', map { 1000 * $_ } @healthy);
row('z2 stalled: mean pass (its waits included)', '%.1f ms',
    map { 1000 * $_ } @stalled_mean);
row('z2 stalled: passes that waited for it (libvirt.timeout)', '%d',
    @waited);
row('z2 stalled: the longest of them', '%.2f s', @worst);
row('z2 stalled: mean of the other passes', '%.1f ms',
    map { 1000 * $_ } @rest);
row('capacity +2 (raised 1 s into the stall) served after', '%.2f s',
    @applied);
printf <<"EOF2", $ratio, $base, $b_applied, $stall - 1, $b_after;

Ratio of the passes that did not wait, stalled / healthy: **%.2f** (they
list one zone of two, and the settling after SIGCONT is in the stalled
phase). The first pass after the stop waits for z2's listing until its
deadline (`libvirt.timeout`), then goes on with z1; the later ones find
z2 stalled and do not ask it, but one more may wait: once keepalive has
closed the dead connection, the next listing reconnects, and that hangs
on the stopped daemon until its deadline too. Baseline (`%s`: one pass
thread, no deadline, no keepalive): the capacity raised during the stall
was served after %.2f s (the stall had %d s left): its pass ended %.2f s
after SIGCONT, so every zone and pool waited the whole stall.

Command: `ROUNDS=$rounds N=$n PASSES=$passes STALL=$stall TIMEOUT=$timeout BASE=$base perl bench/zone-stall.pl`.
EOF2
