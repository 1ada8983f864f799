#!/usr/bin/perl
# scaler: with health.uri an instance is registered only after a GET of
# that path answers 2xx/3xx; an instance whose /healthz fails (500), or
# that accepts connections but never answers (a listener of the test's own
# that never accepts: past health.timeout), stays booting until it serves.
# The readiness checks of a pass run at once: five instances that never
# answer within health.timeout (2 s) do not hold up a sixth that does.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $gport = $t->port('guest');
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    readiness => 'tcp', cidr => '127.0.6.0/24', port => $gport,
    capacity => [0, 5, 0],
    extra => "    health: { uri: /healthz, timeout: 300ms, grace: 60s }\n" },
  { name => 'par', cidr => '127.0.7.0/24', port => $gport,
    capacity => [0, 6, 0],
    extra => "    health: { uri: /healthz, timeout: 2s }\n" } ]);
$s->start;
my $ctl = $t->dir . '/guestctl';
mkdir $ctl;
$t->write_file("$ctl/web-000002", "fail\n");
$t->write_file("$ctl/web-000003", "dead\n");
use IO::Socket::INET;
my $hang = IO::Socket::INET->new(LocalAddr => '127.0.6.3', LocalPort => $gport,
                                 Listen => 16, ReuseAddr => 1)
    or die "listen 127.0.6.3:$gport: $!";
$s->guestsim($ctl);

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'capacity 3');
ok($t->wait_for(sub { exists $s->members('web')->{'web-000001'} },
                timeout => 10, what => 'web-000001'),
   'a healthy instance is registered');
select undef, undef, undef, 1.5;
my $m = $s->members('web');
is_deeply([sort keys %$m], ['web-000001'],
          'one answering 500 and one that never answers are not')
    or diag explain $m;
my (undef, $p) = $s->api('GET', '/v1/pools/web');
my %st = map { $_->{id} => $_->{state} } @{ $p->{instances_list} };
is($st{'web-000002'}, 'booting', 'the failing one stays booting');
is($st{'web-000003'}, 'booting', 'the silent one too');

close $hang;
unlink "$ctl/web-000002", "$ctl/web-000003";
ok($t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
                what => '3 members'), 'both registered once /healthz answers');

# pool par: .1 .. .5 accept and never answer, .6 answers
my @silent = map {
    IO::Socket::INET->new(LocalAddr => "127.0.7.$_", LocalPort => $gport,
                          Listen => 16, ReuseAddr => 1)
        or die "listen 127.0.7.$_:$gport: $!";
} 1 .. 5;
$t->start_backends(par6 => "127.0.7.6:$gport");
my $t0 = time;
($code) = $s->api('PUT', '/v1/pools/par/capacity', { capacity => 6 });
is($code, 200, 'par: capacity 6');
ok($t->wait_for(sub { exists $s->members('par')->{'par-000006'} },
                timeout => 20, what => 'par-000006'),
   'the instance that answers is registered');
my $dt = time - $t0;
cmp_ok($dt, '<', 6, sprintf('within %.1f s: the five silent ones were '
       . 'checked at once (one after another a pass takes 10 s)', $dt));
is(scalar keys %{ $s->members('par') }, 1, 'the silent ones are not');
close $_ for @silent;

my $bin = $t->bin('scaleset-scaler');
for my $bad (["{ uri: healthz }", qr/health uri "healthz": expected a path/],
             ["{ grace: 1x }", qr/bad duration "1x"/],
             ["{ uri: /h, wait: 1s }", qr/unknown key "wait" in health/]) {
    $s->{opt}{pools}[0]{extra} = "    health: $bad->[0]\n";
    my $conf = $s->write_config;
    my $out = qx{$bin -t -c $conf 2>&1};
    like($out, $bad->[1], "health $bad->[0] refused with its reason");
}
# health.grace alone (no uri): readiness stays as `readiness` says
$s->{opt}{pools}[0]{extra} = "    health: { grace: 30s }\n";
my $conf = $s->write_config;
like(qx{$bin -t -c $conf 2>&1}, qr/configuration ok/,
     'health: { grace: 30s } without uri is a configuration');
$t->done;
