#!/usr/bin/perl
# scaler: API errors (400 with a JSON error, 404, 405), capacity outside
# min..max refused with the reason, instance delete, bearer token.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
$t->write_file('token', "s3cret\n");
my $s = Scaleset::Scaler->new($t, api_extra => 'token_file: ' . $t->dir
    . '/token', pools => [ { name => 'web', capacity => [1, 4, 2] } ]);
$s->start;
my %auth = (headers => { Authorization => 'Bearer s3cret' });

my ($code, $b) = $s->api('GET', '/v1/pools');
is($code, 401, 'no token: 401');
is(ref $b, 'HASH', 'JSON error body');
($code) = $s->api('GET', '/v1/pools', undef,
                  headers => { Authorization => 'Bearer nope' });
is($code, 401, 'wrong token: 401');
($code) = $s->api('GET', '/healthz');
is($code, 200, '/healthz needs no token');

($code, $b) = $s->api('GET', '/v1/pools', undef, %auth);
is($code, 200, 'pools with the token');
is($b->{pools}[0]{name}, 'web', 'pool listed');
ok($t->wait_for(sub { my (undef, $p) = $s->api('GET', '/v1/pools/web', undef, %auth);
                      ref $p && ($p->{passes} // 0) >= 1 }, timeout => 10,
                what => 'a pass'),
   'the pool says how many passes ended (0 until its instances are known)');

my @bad = (
    [ 'not json', qr/bad JSON/ ],
    [ '{"capacity":"3"}', qr/integer/ ],
    [ '{"cap":3}', qr/integer/ ],
    [ '{"capacity":0}', qr/outside min\.\.max 1\.\.4/ ],
    [ '{"capacity":5}', qr/outside min\.\.max 1\.\.4/ ],
    [ '[]', qr/integer/ ],
    # jansson's reason cut inside a UTF-8 sequence went out as {} (found
    # by fuzz/fuzz_api_body.c); a NUL ended the body and what followed it
    # was ignored
    [ "{\"\\u\xd0\x85\": 0}", qr/^bad JSON: invalid escape near / ],
    [ "{\"capacity\":2}\0junk", qr/bad JSON/ ],
);
for my $c (@bad) {
    ($code, $b) = $s->api('PUT', '/v1/pools/web/capacity', $c->[0], %auth);
    is($code, 400, "400 for $c->[0]");
    like(ref $b ? $b->{error} : '', $c->[1], "reason for $c->[0]");
}
($code, $b) = $s->api('PUT', '/v1/pools/nope/capacity', '{"capacity":1}',
                      %auth);
is($code, 404, 'unknown pool: 404');
like($b->{error}, qr/no pool "nope"/, 'names the pool');
($code) = $s->api('GET', '/v1/nothing', undef, %auth);
is($code, 404, 'unknown path: 404');
($code) = $s->api('POST', '/v1/pools/web/capacity', '{"capacity":1}', %auth);
is($code, 405, 'wrong method: 405');
($code, $b) = $s->api('DELETE', '/v1/pools/web/instances/web-999999', undef,
                      %auth);
is($code, 404, 'unknown instance: 404');

$t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
             what => '2 members');
($code, $b) = $s->api('DELETE', '/v1/pools/web/instances/web-000001',
                      undef, %auth);
is($code, 202, 'instance deletion accepted') or diag explain $b;
is_deeply($b, { pool => 'web', id => 'web-000001', deleted => 'web-000001',
                drain => JSON::PP::true() }, 'it drains first');
ok($t->wait_for(sub { !exists $s->members('web')->{'web-000001'} },
                timeout => 5, what => 'member removed'),
   'member removed (no gateway reports a connection)');
like($t->log('scaler'), qr/id=web-000001 draining \(deleted through the API\) rule=api/,
     'drained first');

$t->wait_for(sub { my $m = $s->members('web'); keys %$m == 2
                   && exists $m->{'web-000003'} }, timeout => 10,
             what => 'replacement');
ok(exists $s->members('web')->{'web-000003'}, 'replaced with a new id');

($code, $b) = $s->api('DELETE',
    '/v1/pools/web/instances/web-000002?force=maybe', undef, %auth);
is($code, 400, 'force=maybe: 400');
($code, $b) = $s->api('DELETE',
    '/v1/pools/web/instances/web-000002?decrement=true&force=true', undef,
    %auth);
is($code, 202, 'DELETE ?decrement=true&force=true: accepted');
is($b->{capacity}, 1, 'the capacity one lower');
ok(!$b->{drain}, 'no drain');
ok($t->wait_for(sub { my $m = $s->members('web');
                      keys %$m == 1 && $m->{'web-000003'} },
                timeout => 5, what => 'one left'),
   'deleted, not replaced');
like($t->log('scaler'), qr/id=web-000002 deleted \(deleted through the API \(force: no drain\)\) rule=api/,
     'deleted at once');
($code, $b) = $s->api('DELETE',
    '/v1/pools/web/instances/web-000003?decrement=true', undef, %auth);
is($code, 400, 'decrement below min: 400');
like($b->{error}, qr/below min 1/, 'says so');

my (undef, $metrics) = $t->http('GET', 'api', '/metrics', %auth);
like($metrics, qr/^scaleset_scaler_capacity_desired\{pool="web"\} 1$/m,
     'metrics: desired capacity');

$t->done;
