#!/usr/bin/perl
# guestsim, the guest simulator: it follows the scaler's instances and
# serves on each address; its load model makes a request to "/" hold one
# of the instance's workers for `cost` ms (FIFO when all are busy), so
# latency follows load per instance: 4 requests at once to an instance
# with one worker and cost 200 ms end at ~0.2, 0.4, 0.6, 0.8 s; with 4
# workers all at ~0.2 s.  A slow instance never delays another one; the
# switches fail/dead work, per instance and per version (every instance
# of a version, as a bad release); /metrics counts requests and busy
# time; the file_sd target list names every serving instance.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $gport = $t->port('guest');
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    readiness => 'tcp', cidr => '127.0.7.0/24', port => $gport,
    capacity => [0, 5, 2] } ]);
$s->start;
my $dir = $t->dir;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl, '--cost', '200', '--targets', "$dir/targets.json");
$t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
             what => '2 members');
my ($ia, $ib) = ('127.0.7.1', '127.0.7.2');

# n requests at once to addr; (seconds until each answer, sorted; bodies)
sub burst {
    my ($addr, $n, $path) = @_;
    my $sel = IO::Select->new;
    my (%buf, %t0, @took, @bodies);
    for (1 .. $n) {
        my $c = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $gport,
                                      Timeout => 5) or die "$addr: $!";
        print $c "GET " . ($path // '/') . " HTTP/1.1\r\nHost: x\r\n\r\n";
        $t0{fileno $c} = time;
        $buf{fileno $c} = '';
        $sel->add($c);
    }
    my $end = time + 10;
    while ($sel->count && time < $end) {
        for my $c ($sel->can_read(0.5)) {
            my $n = sysread($c, my $chunk, 4096);
            if ($n) {
                $buf{fileno $c} .= $chunk;
                next;
            }
            push @took, time - $t0{fileno $c};
            push @bodies, $buf{fileno $c};
            $sel->remove($c);
            close $c;
        }
    }
    return ([sort { $a <=> $b } @took], \@bodies);
}

my ($took, $bodies) = burst($ia, 1);
like($bodies->[0], qr/^HTTP\/1\.1 200 .*\r\n\r\nweb-000001 version=1\n$/s,
     'an instance answers with its name and its model\'s version');
cmp_ok($took->[0], '>=', 0.19, 'after its cost (200 ms)');

($took) = burst($ia, 4);
is(scalar @$took, 4, '4 requests at once all answered');
cmp_ok($took->[-1], '>=', 0.78,
       'one worker: the last waits for the 3 before it (>= 0.8 s)');
cmp_ok($took->[0], '<', 0.6, 'the first does not wait for the others')
    or diag "@$took";

$t->write_file("$ctl/web-000001", "concurrency 4\n");
($took) = burst($ia, 4);
cmp_ok($took->[-1], '<', 0.6, 'four workers (switch "concurrency 4"): '
       . 'no queue') or diag "@$took";
cmp_ok($took->[0], '>=', 0.19, 'each still costs 200 ms');

$t->write_file("$ctl/web-000001", "cost 0\n");
$t->write_file("$ctl/web-000002", "slow 1.5\n");
my $slow = IO::Socket::INET->new(PeerAddr => $ib, PeerPort => $gport)
    or die "$ib: $!";
print $slow "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
($took, $bodies) = burst($ia, 1);
cmp_ok($took->[0], '<', 0.5,
       'an instance answers at once while another is slow');
my $t0 = time;
my $got = join '', <$slow>;
like($got, qr/web-000002 version=1\n$/, 'the slow one answers too');
cmp_ok(time - $t0, '>=', 1.0, 'later (slow 1.5)');
($took, $bodies) = burst($ib, 1, '/healthz');
cmp_ok($took->[0], '>=', 1.4, '"slow" delays /healthz too');

$t->write_file("$ctl/web-000002", "fail\n");
(undef, $bodies) = burst($ib, 1);
like($bodies->[0], qr/^HTTP\/1\.1 500 /, '"fail": 500 on /');
(undef, $bodies) = burst($ib, 1, '/healthz');
like($bodies->[0], qr/^HTTP\/1\.1 500 /, '"fail": 500 on /healthz');

# a version's switch: every instance of version 1 fails
$t->write_file("$ctl/version-1", "fail\n");
(undef, $bodies) = burst($ia, 1, '/healthz');
like($bodies->[0], qr/^HTTP\/1\.1 500 /,
     '"fail" in version-1: an instance of version 1 fails /healthz');
unlink "$ctl/version-1";
(undef, $bodies) = burst($ia, 1, '/healthz');
like($bodies->[0], qr/^HTTP\/1\.1 200 /, 'and passes once it is gone');

(undef, $bodies) = burst($ia, 1, '/metrics');
my ($req) = $bodies->[0] =~ /^guestsim_requests_total\{instance_id="web-000001"\} (\d+)$/m;
my ($busy) = $bodies->[0] =~ /^guestsim_busy_seconds_total\{instance_id="web-000001"\} ([\d.]+)$/m;
is($req, 10, q(/metrics: requests to / counted (1 + 4 + 4 + 1)));
cmp_ok(abs($busy - 9 * 0.2), '<', 0.001,
       '/metrics: busy seconds = 9 x 200 ms (the cost 0 ones add none)');
like($bodies->[0], qr/^guestsim_concurrency\{instance_id="web-000001"\} 1$/m,
     '/metrics: the concurrency in force');

my $tg = decode_json($t->read_file("$dir/targets.json"));
is_deeply([sort map { "$_->{labels}{instance_id} $_->{targets}[0]" } @$tg],
          ["web-000001 $ia:$gport", "web-000002 $ib:$gport"],
          'file_sd targets: every serving instance');

# connections it took before it died: one that sent nothing yet, one
# waiting for its answer (a slow one); a dead guest's connections die
# with it, unanswered (the gateway then retries the request elsewhere),
# never a 500 from a guest that is gone
$t->write_file("$ctl/web-000002", "slow 3\n");
my $idle = IO::Socket::INET->new(PeerAddr => $ib, PeerPort => $gport,
                                 Timeout => 5) or die "$ib: $!";
my $waiting = IO::Socket::INET->new(PeerAddr => $ib, PeerPort => $gport,
                                    Timeout => 5) or die "$ib: $!";
print $waiting "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
sleep 0.5;          # both accepted, the second one read
$t->write_file("$ctl/web-000002", "dead\n");
$t->wait_for(sub { !IO::Socket::INET->new(PeerAddr => $ib, PeerPort => $gport) },
             timeout => 5, what => 'web-000002 dead');
ok(!IO::Socket::INET->new(PeerAddr => $ib, PeerPort => $gport),
   '"dead": nothing listens');
print $idle "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
for my $c ([$idle, 'a connection it had taken, its request sent after the death'],
           [$waiting, 'a request it was answering when it died']) {
    my $sel = IO::Select->new($c->[0]);
    my ($got, $n) = ('', 1);
    while ($n && $sel->can_read(5)) {
        $n = sysread($c->[0], my $buf, 4096);
        $got .= $buf if $n;
    }
    is($got, '', "\"dead\": $c->[1] is closed unanswered");
}
$t->wait_for(sub { @{ decode_json($t->read_file("$dir/targets.json")) } == 1 },
             timeout => 5, what => 'targets rewritten');
pass('the target list drops it');

$t->done;
