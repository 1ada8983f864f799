#!/usr/bin/perl
# scaler: Redis goes away while instances run.  The scaler keeps its
# instances (no destructive action), says so in the API and metrics, and
# registers them again when Redis is back (empty, no persistence).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
    capacity => [0, 10, 3] } ]);
$s->start;
$t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
             what => '3 members');

$t->kill_server('redis', 'KILL');
$t->wait_for(sub { my (undef, $p) = $s->api('GET', '/v1/pools/web');
                   ref $p && !$p->{redis} }, timeout => 10,
             what => 'redis down seen');
my ($code, $p) = $s->api('GET', '/v1/pools/web');
is($code, 200, 'API answers while Redis is down');
is($p->{instances}, 3, 'instances kept');
($code, $p) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
is($code, 503, 'capacity change refused while Redis is down');
like($p->{error}, qr/redis/, 'with the reason');
my (undef, $metrics) = $t->http_get('api', '/metrics');
like($metrics, qr/^scaleset_scaler_redis_up\{pool="web"\} 0$/m,
     'metric says Redis is down');
like($metrics, qr/^scaleset_scaler_errors_total\{pool="web",kind="redis"\} [1-9]\d*$/m,
     'the failed passes counted as errors of kind redis');
like($metrics, qr/^scaleset_scaler_errors_total\{pool="web",kind="libvirt"\} 0$/m,
     'and not as libvirt errors');
select undef, undef, undef, 1;
(undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{instances}, 3, 'still 3 instances after a second of outage');

$t->start_redis;
$t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
             what => 'members registered again');
my $m = $s->members('web');
is_deeply([sort keys %$m], [sort map { $_->{id} } @{ $p->{instances_list} }],
          'the same instances registered again');
# a degraded state is a warning, its end routine (log levels, issue 15)
like($t->log('scaler'), qr/^scaler: warn: redis \S+ unreachable/m,
     'outage logged as a warning');
like($t->log('scaler'), qr/^scaler: redis \S+ connected/m,
     'recovery logged at info');

$t->done;
