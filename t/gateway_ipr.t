#!/usr/bin/perl
# The request path's cost in instructions (callgrind, t/lib/Scaleset/
# Callgrind.pm): the module at 2 members stays under a generous ceiling of
# stock nginx's round robin with 2 server lines, measured side by side,
# both the request path alone and the worker's whole work while the
# requests ran (the module's own clock too).
# Instruction counts do not depend on the machine's load (the whole
# work's share of the module's clock grows with the requests' wall time,
# a few instructions per request per second at 2 members), so the
# ceiling is far above the target (bench/gateway-ipr.pl,
# docs/benchmarks.md) and only a real regression fails it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;
use Scaleset::Pool;
use Scaleset::Callgrind;

my $CEILING = 1.15;

if (my $why = Scaleset::Callgrind::unavailable()) {
    # valgrind is in make deps; only the ASan build cannot run under it
    plan skip_all => $why if $Scaleset::Test::ASAN;
    BAIL_OUT($why);
}

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
my $cg = Scaleset::Callgrind->new($t);
my @b = $cg->backends;
$t->start_redis;
pool_replace($t->redis, 'web', { 'web-1' => $b[0], 'web-2' => $b[1] });

my %n = (warmup => 100, n => 1000);
my $stock = $cg->measure(name => 'stock', no_module => 1, %n,
                         upstream => "server $b[0]; server $b[1];");
my %mod = (
    %n, upstream => 'scaleset web;',
    http => 'scaleset_redis 127.0.0.1:%%PORT_redis%%;',
    ready => sub {
        my ($name) = @_;
        $t->wait_for(sub { ($t->log($name) // '') =~ /pool "web" epoch \d+ from redis: 2 members/ },
                     what => "$name: members applied");
    });
my $mod = $cg->measure(name => 'mod', %mod);
# the worker's whole work while the requests ran: its own clock too
# (health reports, resyncs, lease ticks), as shared/tools/ipr-bench.sh
# counts it
my $all = $cg->measure(name => 'all', %mod, background => 1);

cmp_ok($stock->{ipr}, '>', 1000,
       sprintf('stock nginx counted: %.0f instructions per request', $stock->{ipr}));
my $ratio = $mod->{ipr} / $stock->{ipr};
cmp_ok($ratio, '<=', $CEILING,
       sprintf('module %.0f instructions per request, %.3f x stock nginx '
               . '(ceiling %.2f)', $mod->{ipr}, $ratio, $CEILING))
    or diag(join "\n", map { sprintf '%-50s %+8.0f', $_->[0], $_->[3] }
                       Scaleset::Callgrind::self_diff($stock, $mod, 15));
$ratio = $all->{ipr} / $stock->{ipr};
cmp_ok($ratio, '<=', $CEILING,
       sprintf('the worker\'s whole work %.0f instructions per request in '
               . '%.1f s, %.3f x stock nginx (ceiling %.2f)', $all->{ipr},
               $all->{seconds}, $ratio, $CEILING))
    or diag(join "\n", map { sprintf '%-50s %+8.0f', $_->[0], $_->[3] }
                       Scaleset::Callgrind::self_diff($stock, $all, 15));

$t->done;
