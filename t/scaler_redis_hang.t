#!/usr/bin/perl
# scaler: Redis hangs (SIGSTOP: connections open, nothing answered).  The
# loop's own Redis writes (PUT capacity, DELETE instance) are non-blocking
# with a 1 s timeout: they answer 503, and while one waits the API and
# /metrics answer at once.  After SIGCONT the writes work again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $rpid = $t->pid('redis');
# a stopped Redis is continued whatever happens (this END runs before the
# harness's, which stops the servers)
END { kill 'CONT', $rpid if $rpid }

my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
    capacity => [0, 10, 3] } ]);
$s->start;
$t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
             what => '3 members');
$t->wait_for(sub { my (undef, $p) = $s->api('GET', '/v1/pools/web');
                   ref $p && $p->{running} == 3 }, timeout => 10,
             what => '3 running');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
my @ids = sort map { $_->{id} } @{ $p->{instances_list} };
is(scalar @ids, 3, '3 instances');

# a request sent without waiting for its answer
sub send_request {
    my ($method, $path, $body) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port('api'), Proto => 'tcp', Timeout => 2)
        or die "connect: $!";
    $body //= '';
    print $sock "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n$body";
    return $sock;
}

# (status, decoded body, seconds waited) of a request sent earlier
sub read_answer {
    my ($sock, $t0, $timeout) = @_;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $end = $t0 + $timeout;
    while (time < $end && $sel->can_read($end - time)) {
        my $n = sysread($sock, $buf, 65536, length $buf);
        last unless $n;
    }
    my $dt = time - $t0;
    close $sock;
    my ($code) = $buf =~ m{^HTTP/1\.[01] (\d+)};
    my ($body) = $buf =~ /\r\n\r\n(.*)\z/s;
    my $data = eval { decode_json($body // '') } // $body;
    return ($code // 0, $data, $dt);
}

$t->signal('redis', 'STOP');

# PUT capacity: waits on Redis; meanwhile the loop answers other requests
my $t0 = time;
my $put = send_request('PUT', '/v1/pools/web/capacity',
                       encode_json({ capacity => 3 }));
sleep 0.1;                              # the PUT is waiting on Redis now
my $g0 = time;
my ($code, $q) = $s->api('GET', '/v1/pools/web');
my $gdt = time - $g0;
is($code, 200, 'GET /v1/pools/web answers while a PUT waits on Redis');
cmp_ok($gdt, '<', 0.3, sprintf('at once (%.0f ms)', $gdt * 1000));
$g0 = time;
($code, my $metrics) = $t->http_get('api', '/metrics');
$gdt = time - $g0;
is($code, 200, 'GET /metrics answers while a PUT waits on Redis');
cmp_ok($gdt, '<', 0.3, sprintf('at once (%.0f ms)', $gdt * 1000));
my $tooearly = time - $t0;
my ($pc, $pb, $pdt) = read_answer($put, $t0, 5);
is($pc, 503, 'PUT capacity with Redis stopped: 503');
is(ref $pb && $pb->{error}, 'redis unreachable', 'with the reason');
cmp_ok($pdt, '<', 1.5, sprintf('within the timeout (%.0f ms)', $pdt * 1000));
cmp_ok($pdt, '>', $tooearly, 'after the GETs were answered');

# DELETE ?decrement=true: its capacity write times out the same way (and
# nothing is deleted)
$t0 = time;
($code, $q) = $s->api('DELETE',
                      "/v1/pools/web/instances/$ids[0]?decrement=true");
my $ddt = time - $t0;
is($code, 503, 'DELETE ?decrement=true with Redis stopped: 503');
is(ref $q && $q->{error}, "redis unreachable", 'with the reason');
cmp_ok($ddt, '<', 1.5, sprintf('within the timeout (%.0f ms)', $ddt * 1000));
($code, $q) = $s->api('GET', '/v1/pools/web');
my ($inst) = grep { $_->{id} eq $ids[0] } @{ $q->{instances_list} || [] };
ok($inst && $inst->{state} ne 'deleting', 'the instance is not deleting');
is($q->{capacity}, 3, 'capacity unchanged');

# two writes waiting together both fail, each answered once
my @socks = map { send_request('PUT', '/v1/pools/web/capacity',
                               encode_json({ capacity => 3 })) } 1 .. 2;
$t0 = time;
my @codes = map { (read_answer($_, $t0, 5))[0] } @socks;
my $bdt = time - $t0;
is_deeply(\@codes, [503, 503], 'two waiting writes: both 503');
cmp_ok($bdt, '<', 1.5, sprintf('together within the timeout (%.0f ms)',
                               $bdt * 1000));

# a client that leaves before its answer: nothing is answered to it
my $gone = send_request('PUT', '/v1/pools/web/capacity',
                        encode_json({ capacity => 3 }));
sleep 0.1;
close $gone;
sleep 1.2;
($code) = $s->api('GET', '/v1/pools/web');
is($code, 200, 'a client gone while its write waited: the API still answers');

# a reload while a write waits: the request stays (same api.listen) and
# is answered; the reload itself reads nothing from Redis (the pools keep
# their capacity from the running state), it only waits for the running
# pass, which waits for Redis up to its 1 s timeout
$t0 = time;
$put = send_request('PUT', '/v1/pools/web/capacity',
                    encode_json({ capacity => 3 }));
sleep 0.1;
my $thup = time;
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $t->log('scaler') =~ /configuration reloaded/ },
                timeout => 5, interval => 0.02, what => 'reloaded'),
   'reloaded');
cmp_ok(time - $thup, '<', 1.5,
       'within the running pass\'s Redis timeout, with Redis stopped');
($pc, $pb) = read_answer($put, $t0, 6);
is($pc, 503, 'a write waiting across a reload is answered: 503');

$t->signal('redis', 'CONT');

# after SIGCONT: writes work again (a new connection, made on demand)
ok($t->wait_for(sub { ($s->api('PUT', '/v1/pools/web/capacity',
                                { capacity => 4 }))[0] == 200 },
                timeout => 5, what => 'PUT 200'), 'PUT capacity works again');
is($t->redis->get('scaleset:{web}:capacity'), 4, 'Redis has the capacity');
($code, $q) = $s->api('GET', '/v1/pools/web');
is($q->{capacity}, 4, 'and the API');
my $epoch = $t->redis->get('scaleset:{web}:epoch');
($code, $q) = $s->api('DELETE',
                      "/v1/pools/web/instances/$ids[1]?decrement=true");
is($code, 202, 'DELETE ?decrement=true works again');
is_deeply($q, { deleted => $ids[1], pool => 'web', id => $ids[1],
                drain => JSON::PP::true(), capacity => 3 }, 'its answer');
ok($t->wait_for(sub { !$t->redis->hexists('scaleset:{web}:members',
                                          $ids[1]) },
                timeout => 5, what => 'member removed'),
   'the member is removed in Redis (drained: no gateway)');
cmp_ok($t->redis->get('scaleset:{web}:epoch'), '>', $epoch,
       'the epoch was incremented');
ok($t->wait_for(sub { my (undef, $p) = $s->api('GET', '/v1/pools/web');
                      !grep { $_->{id} eq $ids[1] }
                           @{ $p->{instances_list} } },
                timeout => 10, what => "$ids[1] gone"),
   'the deleted instance goes');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
                what => '3 members'),
   'and the pool converges on 3 (decremented, not replaced)');
like($t->log('scaler'), qr/redis \S+ unreachable from the loop: timed out/,
     'the failed writes logged');
like($t->log('scaler'), qr/redis \S+ answers the loop again/,
     'and the recovery');

# stopped while a write waits: it exits (cleanly under the sanitizers:
# done() checks the log)
$t->signal('redis', 'STOP');
$put = send_request('PUT', '/v1/pools/web/capacity',
                    encode_json({ capacity => 4 }));
sleep 0.2;
$t->stop('scaler');
like($t->log('scaler'), qr/signal 15: stopping/, 'stopped with a write waiting');
$t->signal('redis', 'CONT');

$t->done;
