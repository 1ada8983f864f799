#!/usr/bin/perl
# The reconcile passes run off the event loop: while a pass is busy with
# libvirt (1 000 creations on the test driver) the API keeps answering at
# once, and a SIGSTOPped Redis does not stall it either.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(time sleep);
use Test::More;
use JSON::PP;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $s = Scaleset::Scaler->new($t, interval => '200ms',
    pools => [ { name => 'web', capacity => [0, 1000, 0],
                 cidr => '127.1.0.0/16', readiness => 'none' } ]);
$s->start;

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1000 });
is($code, 200, 'capacity 1000');

# the time the API takes to answer; decoding its 1 000 instances with
# JSON::PP (pure Perl, ~100 ms on a loaded machine) is the client's
my ($max, $during, $n) = (0, 0, 0);
my $end = time + 30;
while (time < $end) {
    my $t0 = time;
    my ($c, $body) = $t->http('GET', 'api', '/v1/pools/web');
    my $dt = time - $t0;
    my $p = eval { decode_json($body) } // {};
    $n++;
    $max = $dt if $dt > $max;
    last if $c == 200 && $p->{running} == 1000;
    $during++ if $c == 200;             # answered before all 1000 ran
    sleep 0.01;
}
cmp_ok($during, '>=', 5, "answered while the scale-out ran ($during of $n)");
cmp_ok($max, '<', 0.2, sprintf('the API answered within 200 ms throughout '
                               . '(slowest %.0f ms)', $max * 1000));

# Redis stopped (not gone: the pass's calls wait for their timeout)
my $rpid = $t->{servers}{redis}{pid};
kill 'STOP', $rpid;
my $t0 = time;
my ($c) = $t->http('GET', 'api', '/v1/pools/web');
my $dt = time - $t0;
is($c, 200, 'GET answers with Redis stopped');
cmp_ok($dt, '<', 0.5, sprintf 'at once (%.0f ms)', $dt * 1000);
sleep 1.5;
$t0 = time;
($c) = $t->http('GET', 'api', '/v1/pools/web');
cmp_ok(time - $t0, '<', 0.5, 'still at once while passes wait on Redis');
kill 'CONT', $rpid;

($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 0 });
ok($t->wait_for(sub { $t->redis->hlen('scaleset:{web}:members') == 0 },
                timeout => 30, what => 'back to 0'), 'back to 0');
$t->done;
