#!/usr/bin/perl
# Several upstreams with "scaleset" in one nginx, each its own pool; one
# pool shared by two nginx instances (gateways), both applying changes.

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
$t->start_backends(w1 => 'w1', w2 => 'w2', a1 => 'a1', a2 => 'a2');

pool_set($r, 'web', { 'web-1' => addr($t, 'w1') });
pool_set($r, 'api', { 'api-1' => addr($t, 'a1') }, prefix => 'other:');

for my $gw (qw(gw1 gw2)) {
    $t->start_nginx(name => $gw, workers => 2, http => <<"EOF");
    scaleset_redis 127.0.0.1:%%PORT_redis%% prefix=other:;
    scaleset_gateway_id $gw;
    upstream web { scaleset web; }
    upstream api { scaleset api; }
    server {
        listen 127.0.0.1:%%PORT_$gw%% reuseport;
        location / { proxy_pass http://web; }
        location /api { proxy_pass http://api; }
    }
EOF
}

# web was written under the default prefix, which these gateways do not
# read: the prefix is honoured
for my $gw (qw(gw1 gw2)) {
    $t->wait_for(sub { my ($c) = $t->http_get($gw, '/api'); $c == 200 },
                 what => "$gw serves api");
    my $c = count_backends($t, $gw, 4, '/api');
    is_deeply($c, { a1 => 4 }, "$gw: pool api under the configured prefix")
        or diag explain $c;
    $c = count_backends($t, $gw, 2, '/');
    is_deeply($c, { 'status-502' => 2 },
              "$gw: pool web is empty under that prefix") or diag explain $c;
}

pool_set($r, 'web', { 'web-1' => addr($t, 'w1'), 'web-2' => addr($t, 'w2') },
         prefix => 'other:');
pool_set($r, 'api', { 'api-2' => addr($t, 'a2') }, prefix => 'other:');

for my $gw (qw(gw1 gw2)) {
    ok($t->wait_for(sub { my $c = count_backends($t, $gw, 4, '/');
                          ($c->{w1} // 0) == 2 && ($c->{w2} // 0) == 2 },
                    timeout => 5, what => "$gw web"),
       "$gw applies the change of the shared pool web");
    ok($t->wait_for(sub { my $c = count_backends($t, $gw, 4, '/api');
                          ($c->{a1} // 0) == 2 && ($c->{a2} // 0) == 2 },
                    timeout => 5, what => "$gw api"),
       "$gw applies the change of pool api");
}

my @clients = grep { !/cmd=(client|eval)\b/ } split /\n/,
              $t->redis('redis', fresh => 1)->client_list;
is(scalar @clients, 4, 'two connections per gateway, whatever the pools')
    or diag join "\n", @clients;

$t->done;
