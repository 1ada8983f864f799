#!/usr/bin/perl
# Scaler benchmark: 0 -> 1000 registered instances on test:///default and
# back to 0; RSS and CPU per reconcile pass at 1000.  Prints a Markdown
# table for docs/benchmarks.md ("Scaler" section).
#   perl bench/scaler.pl [N]

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use POSIX ();
use Scaleset::Test;
use Scaleset::Scaler;

my $n = shift // 1000;
my $interval_ms = 200;
my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $s = Scaleset::Scaler->new($t, interval => "${interval_ms}ms",
    pools => [ { name => 'web', cidr => '127.1.0.0/16',
    zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
    capacity => [0, 1000, 0] } ]);
my $srv = $s->start;
my $redis = $t->redis;
my $count = sub { $redis->hlen('scaleset:{web}:members') };

sub cpu_ticks {
    open my $fh, '<', "/proc/$srv->{pid}/stat" or return 0;
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return $f[11] + $f[12];
}
sub rss_kb {
    open my $fh, '<', "/proc/$srv->{pid}/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

my $t0 = time;
$s->api('PUT', '/v1/pools/web/capacity', { capacity => $n });
1 until $count->() == $n || (sleep(0.02), time - $t0 > 120);
my $up = time - $t0;

# steady state: CPU per pass over 10 s
my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK());
my ($c0, $w0) = (cpu_ticks(), time);
sleep 10;
my ($c1, $w1) = (cpu_ticks(), time);
my $passes = ($w1 - $w0) * 1000 / $interval_ms;
my $cpu_pass_ms = ($c1 - $c0) / $hz * 1000 / $passes;
my $rss = rss_kb();

$t0 = time;
$s->api('PUT', '/v1/pools/web/capacity', { capacity => 0 });
1 until $count->() == 0 || (sleep(0.02), time - $t0 > 120);
my $down = time - $t0;
my (undef, $p) = $s->api('GET', '/v1/pools/web');

printf "| 0 -> %d registered | %.2f s |\n", $n, $up;
printf "| %d -> 0 (drained, deregistered, domains deleted) | %.2f s |\n",
       $n, $down;
printf "| domains left after scale-in | %d |\n", $p->{instances};
printf "| RSS at %d instances | %.1f MiB |\n", $n, $rss / 1024;
printf "| CPU per reconcile pass at %d (idle, interval %d ms) | %.1f ms |\n",
       $n, $interval_ms, $cpu_pass_ms;
$t->done_bench if $t->can('done_bench');
$t->stop('scaler');
