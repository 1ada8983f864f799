#!/usr/bin/perl
# What the gateway reads from Redis is bounded: the members hash is
# measured (HLEN) before it is read, and one far beyond max_members is
# refused and reported while the current members keep serving; a reply
# string longer than any record drops the connection instead of being
# built; both recover once Redis holds something sane again.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });
$t->start_nginx(workers => 1, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%% timeout=1s;
    upstream web { scaleset web max_members=8 resync=300ms; }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /status { scaleset_status; }
        location = /metrics { scaleset_metrics; }
    }
EOF

sub pool { $t->gateway_status->{pools}{web} // {} }

sub serving {
    my $c = count_backends($t, 'http', 8);
    return join ' ', sort keys %$c;
}

ok($t->wait_for(sub { serving() eq 'b1 b2' }, what => 'served'), 'two members');

# 1: 40 fields for max_members=8 (up to 2 x 8 + 16 are read, the excess
# skipped as "pool is full"): not read at all
$r->hset('scaleset:{web}:members', "web-x$_", addr($t, 'b2')) for 1 .. 38;
$r->incr('scaleset:{web}:epoch');
ok($t->wait_for(sub { (pool()->{refused_size} // 0) == 40 }, timeout => 5,
                what => 'refused'), 'a hash of 40 fields is refused');
like($t->log('nginx'), qr/pool "web": scaleset:\{web\}:members has 40 fields, far more than max_members=8: not read, keeping the 2 current members/,
     'and reported in the log');
my (undef, $m) = $t->http_get('http', '/metrics');
like($m, qr/^scaleset_upstream_reads_refused_total\{pool="web"\} [1-9]\d*$/m,
     'and in the metrics');
is(pool()->{members_count}, 2, 'the current members stay');
is(serving(), 'b1 b2', 'and serve');
ok($t->wait_for(sub { pool()->{stale} }, timeout => 5, what => 'stale'),
   'the pool is stale while its hash cannot be read');

$r->hdel('scaleset:{web}:members', "web-x$_") for 1 .. 38;
$r->incr('scaleset:{web}:epoch');
ok($t->wait_for(sub { (pool()->{refused_size} // 1) == 0 && !pool()->{stale} },
                timeout => 5, what => 'read again'), 'read again once it is sane');

# 2: a record far longer than any record: the reply is not built
$r->hset('scaleset:{web}:members', 'web-big', 'x' x 20000);
$r->incr('scaleset:{web}:epoch');
ok($t->wait_for(sub { $t->log('nginx') =~ /unavailable \(connection: a reply string too long\)/ },
                timeout => 5, what => 'string refused'),
   'a 20 000-byte reply string drops the connection');
my $st = $t->gateway_status;
cmp_ok($st->{redis}{errors_by_kind}{protocol}, '>=', 1, 'counted as a protocol error');
is(serving(), 'b1 b2', 'the members keep serving');

$r->hdel('scaleset:{web}:members', 'web-big');
$r->incr('scaleset:{web}:epoch');
ok($t->wait_for(sub { !pool()->{stale} && $t->log('nginx') =~ /connected again/ },
                timeout => 8, what => 'recovered'), 'and recovers without it');

$t->done;
