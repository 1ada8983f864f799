#!/usr/bin/perl
# scaler API under hostile clients (#13): without the token a body is
# never read (a 200 MB PUT is answered 401 from its head, the scaler's RSS
# does not grow; with Expect: 100-continue nothing is asked for), bodies
# and heads are bounded (413, 400), a head that never ends is cut at
# api.timeout, the whole token is compared (a 600-byte token is not
# accepted by its first 504 bytes), answers without the token close the
# connection; without a token only loopback Host names are served (DNS
# rebinding).  Real scaler, real Redis, raw sockets.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $token = join '', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9)[$_ % 62] } 1 .. 600;
$t->write_file('token', "$token\n");
my $s = Scaleset::Scaler->new($t, api_extra => 'token_file: ' . $t->dir
    . '/token, timeout: 1s', pools => [ { name => 'web',
    capacity => [0, 4, 1] } ]);
$s->start;
my $port = $t->port('api');
my $pid = $t->{servers}{scaler}{pid};

sub rss_kb {
    open my $fh, '<', "/proc/$pid/status" or return -1;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return -1;
}

sub conn {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
}

# the answer on $sock within $secs: (status, head, body); status 0 when
# the connection closed without one
sub answer {
    my ($sock, $secs) = @_;
    my ($buf, $end) = ('', time + ($secs // 5));
    my $sel = IO::Select->new($sock);
    while (time < $end && $sel->can_read($end - time)) {
        my $n = sysread($sock, $buf, 65536, length $buf);
        last if !$n;
        my $i = index($buf, "\r\n\r\n");
        next if $i < 0;
        my ($cl) = substr($buf, 0, $i) =~ /^Content-Length:\s*(\d+)/mi;
        last if defined $cl && length($buf) - $i - 4 >= $cl;
    }
    my ($status) = $buf =~ m{^HTTP/1\.\d (\d{3})};
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    return ($status // 0, $head // '', $body // '');
}

# a request; body sent in 1 MiB pieces as far as the scaler takes them
# within $secs; returns (status, head, body, bytes of body sent)
sub request {
    my (%o) = @_;
    my $sock = conn();
    $sock->blocking(0);
    my $head = "$o{method} $o{path} HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
             . ($o{headers} // '') . "\r\n";
    my $sel = IO::Select->new($sock);
    my $out = $head;
    my ($sent, $left, $end) = (0, $o{body_len} // 0, time + ($o{secs} // 3));
    my $piece = 'x' x (1 << 20);
    while (time < $end && (length $out || $left > 0)) {
        if (!length $out) {
            my $n = $left < length $piece ? $left : length $piece;
            $out = substr($piece, 0, $n);
            $left -= $n;
        }
        last unless $sel->can_write(0.2);
        my $n = syswrite($sock, $out);
        last unless defined $n;        # reset or closed: refused
        $sent += $n if length($out) <= length($piece) && $out ne $head;
        $out = substr($out, $n);
        # an answer already? stop sending
        last if $sel->can_read(0);
    }
    $sock->blocking(1);
    my @a = answer($sock, 5);
    return (@a, $sent);
}

my $auth = "Authorization: Bearer $token\r\n";

# --- the token, whole ---
my ($code, $head, $body) = request(method => 'GET', path => '/v1/pools',
                                   headers => $auth);
is($code, 200, 'the 600-byte token is accepted');
($code) = request(method => 'GET', path => '/v1/pools',
                  headers => 'Authorization: Bearer ' . substr($token, 0, 504)
                             . "\r\n");
is($code, 401, 'its first 504 bytes are not');
($code) = request(method => 'GET', path => '/v1/pools',
                  headers => 'Authorization: Bearer ' . substr($token, 0, 599)
                             . "X\r\n");
is($code, 401, 'a wrong last byte is not');
($code) = request(method => 'GET', path => '/v1/pools',
                  headers => 'Authorization: bearer ' . $token . "\r\n");
is($code, 200, 'the scheme in any case (RFC 6750)');
($code, $head) = request(method => 'GET', path => '/v1/pools');
is($code, 401, 'no token: 401');
like($head, qr/^Connection: close/mi, 'and the connection closes');

# --- a 200 MB PUT without the token: answered from its head ---
my $rss0 = rss_kb();
my $t0 = time;
my $sent;
($code, $head, $body, $sent) = request(method => 'PUT',
    path => '/v1/pools/web/capacity', body_len => 200 << 20, secs => 5,
    headers => "Content-Type: application/json\r\nContent-Length: "
               . (200 << 20) . "\r\n");
my $dt = time - $t0;
is($code, 401, 'an unauthenticated 200 MB PUT: 401');
like($body, qr/bearer token/, 'with the reason');
cmp_ok($sent, '<', 64 << 20, sprintf 'the scaler stopped reading (%.1f MB '
       . 'sent of 200)', $sent / (1 << 20));
cmp_ok($dt, '<', 4, sprintf 'answered at once (%.2f s)', $dt);
my $rss1 = rss_kb();
cmp_ok($rss1 - $rss0, '<', 8 * 1024, "RSS $rss0 -> $rss1 kB: the body was not "
       . 'read into the scaler');

# with Expect: 100-continue the client is never asked for the body
{
    my $sock = conn();
    print $sock "PUT /v1/pools/web/capacity HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Content-Length: " . (200 << 20) . "\r\nExpect: 100-continue\r\n\r\n";
    my ($c, $h) = answer($sock, 5);
    is($c, 401, 'Expect: 100-continue without the token: 401, no 100');
    close $sock;
}

# chunked without the token: the same
($code) = request(method => 'PUT', path => '/v1/pools/web/capacity',
    headers => "Transfer-Encoding: chunked\r\n", body_len => 1 << 20);
is($code, 401, 'chunked without the token: 401');

# --- with the token: bodies and heads are bounded ---
($code) = request(method => 'PUT', path => '/v1/pools/web/capacity',
    headers => $auth . "Content-Length: 20000\r\n", body_len => 20000);
is($code, 413, 'a 20 000-byte body with the token: 413');
{
    my $sock = conn();
    print $sock "PUT /v1/pools/web/capacity HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . $auth . "Content-Length: 14\r\n\r\n{\"capacity\":2}";
    my ($c) = answer($sock, 5);
    is($c, 200, 'a small body with the token: 200');
}
($code) = request(method => 'GET', path => '/v1/pools',
                  headers => $auth . 'X-Big: ' . ('y' x 16384) . "\r\n");
ok($code == 400 || $code == 0, "a 16 KiB head: refused ($code)");
($code) = request(method => 'GET', path => '/v1/pools',
                  headers => 'X-Big: ' . ('y' x 16384) . "\r\n");
ok($code == 400 || $code == 0, "the same without the token: refused ($code)");

# two Authorization headers, or a folded one: not taken
($code) = request(method => 'PUT', path => '/v1/pools/web/capacity',
    headers => $auth . "Authorization: Bearer x\r\nContent-Length: 14\r\n");
is($code, 401, 'two Authorization headers: 401');

# --- a head that never ends is cut at api.timeout (1s) ---
{
    my $sock = conn();
    print $sock "GET /v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    my $t1 = time;
    my ($c) = answer($sock, 8);
    my $d = time - $t1;
    ok($d < 5, sprintf 'an unfinished head: closed after %.1f s', $d);
    close $sock;
}

# the scaler still serves
($code) = request(method => 'GET', path => '/v1/pools', headers => $auth);
is($code, 200, 'still serving after all that');

# --- without a token: the Host check (DNS rebinding) ---
$s->{opt}{api_extra} = 'timeout: 1s';
$s->write_config;
kill 'HUP', $pid;
ok($t->wait_for(sub { $t->log('scaler') =~ /configuration reloaded/ },
                timeout => 5), 'reloaded without token_file');
for my $h ([ 'evil.example', 403 ], [ "evil.example:$port", 403 ],
           [ 'localhost', 200 ], [ "localhost:$port", 200 ],
           [ "127.0.0.1:$port", 200 ], [ "127.0.0.2", 200 ],
           [ "[::1]:$port", 200 ], [ '127.0.0.1.evil.example', 403 ],
           [ 'localhost.evil.example', 403 ]) {
    my $sock = conn();
    print $sock "GET /v1/pools HTTP/1.1\r\nHost: $h->[0]\r\n\r\n";
    my ($c, undef, $b) = answer($sock, 5);
    is($c, $h->[1], "Host: $h->[0] -> $h->[1]");
    like($b, qr/not this API/, 'with the reason') if $h->[1] == 403;
}
{
    my $sock = conn();
    print $sock "GET /v1/pools HTTP/1.0\r\n\r\n";
    my ($c) = answer($sock, 5);
    is($c, 200, 'HTTP/1.0 without Host (no browser): 200');
}

$t->done;
