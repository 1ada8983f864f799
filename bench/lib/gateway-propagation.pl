#!/usr/bin/perl
# Propagation delay: alternately replaces pool "prop" with a member on
# backend 1 or backend 2 (one Lua transaction: HSET/HDEL, INCR, PUBLISH),
# then sends requests in a tight loop until the answer comes from the new
# backend.  Prints "p50 X ms, p99 Y ms, max Z ms (N changes)".
#
#   gateway-propagation.pl REDIS_PORT GATEWAY_PORT B1_PORT B2_PORT N

use strict;
use warnings;

use IO::Socket::INET;
use Redis;
use Time::HiRes qw(time sleep);

my ($rport, $gport, $b1, $b2, $n) = @ARGV;
my $r = Redis->new(server => "127.0.0.1:$rport");

my $lua = <<'LUA';
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local e = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], tostring(e))
return e
LUA
my @keys = map { "scaleset:{prop}:$_" } qw(members epoch events);

sub get {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gport,
                                  Proto => 'tcp') or return '';
    print $s "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
    local $/;
    my $res = <$s> // '';
    close $s;
    return $res =~ /\r\n\r\n(.*)$/s ? $1 : '';
}

my @d;
for my $i (0 .. $n) {
    my ($port, $want) = $i % 2 ? ($b2, "b2\n") : ($b1, "b1\n");
    $r->eval($lua, 3, @keys, "prop-$i", "127.0.0.1:$port");
    my $t0 = time;
    my $deadline = $t0 + 5;
    while (get() ne $want) {
        die "no propagation within 5 s\n" if time > $deadline;
    }
    push @d, (time - $t0) * 1000 if $i > 0;    # the first one warms up
    sleep 0.01;
}

@d = sort { $a <=> $b } @d;
my $p = sub { $d[int($_[0] * $#d + 0.5)] };
printf "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d changes)\n",
    $p->(0.5), $p->(0.99), $d[-1], scalar @d;
