#!/usr/bin/perl
# The harness itself: servers start on free loopback ports, answer, and are
# gone afterwards -- also when the test script dies midway.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path ();
use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);

# a child test script that starts redis, backends and nginx, prints their
# pids and ports, then dies before calling done
my $lib = "$FindBin::Bin/lib";
my $script = $t->write_file('dies.pl', <<"PERL" . <<'PERL');
use lib '$lib';
PERL
use strict; use warnings;
use Test::More;
use Scaleset::Test;
my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
$t->start_backends(b1 => 'b1');
$t->start_nginx(workers => 2, http => join '',
    "server { listen 127.0.0.1:%%PORT_http%%;\n",
    "  location / { proxy_pass http://127.0.0.1:%%PORT_b1%%; } }\n");
my ($code, $body) = $t->http_get('http', '/');
print "PROXIED $code $body";
print "PIDS ", join(' ', $t->pid('redis'), $t->pid('backends'),
                    $t->pid('nginx'), $t->nginx_workers), "\n";
print "PORTS ", join(' ', $t->port('redis'), $t->port('b1'),
                     $t->port('http')), "\n";
print "DIR ", $t->dir, "\n";
STDOUT->flush;
die "dying midway on purpose\n";
PERL

my $out = `$^X $script 2>&1`;    # its logs land in \$out, not on our stderr
my $status = $? >> 8;

isnt($status, 0, 'the dying script exits non-zero');
like($out, qr/^PROXIED 200 b1$/m, 'nginx proxied to the backend');
my ($pids) = $out =~ /^PIDS (.+)$/m;
my ($ports) = $out =~ /^PORTS (.+)$/m;
my ($dir) = $out =~ /^DIR (.+)$/m;
my @pids = split ' ', $pids // '';
my @ports = split ' ', $ports // '';
is(scalar @pids, 5, 'redis, backends, nginx master and 2 workers started');
is(scalar @ports, 3, 'three ports handed out');
is(scalar(keys %{ { map { $_ => 1 } @ports } }), 3, 'the ports are distinct');

ok(!(grep { kill 0, $_ } @pids), 'every process is gone after the death')
    or diag("left: " . join ' ', grep { kill 0, $_ } @pids);
ok(!(grep { Scaleset::Test::port_open($_) } @ports),
   'no port is listening any more');
like($dir // '', qr{/scaleset-run-[^/]+$}, 'a running test\'s directory is scaleset-run-*');
my ($kept) = $out =~ /test files kept in (\S+)/;
ok($kept && -d $kept && -f "$kept/redis.log",
   'the failed run kept its directory for inspection');
is($kept, ($dir // '') =~ s{/scaleset-run-}{/scaleset-test-}r,
   'renamed scaleset-test-* once the test ended');
ok(!-e $dir, 'under its new name only');
like($out, qr/--- redis log/, 'the failed run printed the server logs');
File::Path::remove_tree($kept) if $kept && $kept =~ m{/scaleset-test-};

# a running test's directory removed by something else (a clean-up of
# /tmp by hand): the logs of its running servers are still read, and the
# harness says what happened
my $rm = $t->write_file('removed.pl', <<"PERL" . <<'PERL');
use lib '$lib';
PERL
use strict; use warnings;
use File::Path ();
use Test::More;
use Scaleset::Test;
my $t = Scaleset::Test->new(need => [qw(redis)]);
$t->start_redis;
File::Path::remove_tree($t->dir);
my $log = $t->log('redis') // '';
print "LOG ", ($log =~ /Ready to accept connections/ ? 'read' : 'lost'), "\n";
print "PING ", $t->redis->ping, "\n";
ok(1);
$t->done;
PERL
$out = `$^X $rm 2>&1`;
like($out, qr/^LOG read$/m, 'a running server\'s log is read after its directory was removed');
like($out, qr/^PING PONG$/m, 'and the server still answers');
like($out, qr{scaleset-run-\S+ was removed while the test ran, by something other than this test},
     'the harness says the directory was removed under it');

# a test script killed by TERM while its servers run stops them too
my $sleeper = $t->write_file('sleeps.pl', <<"PERL" . <<'PERL');
use lib '$lib';
PERL
use strict; use warnings;
use Test::More;
use Scaleset::Test;
my $t = Scaleset::Test->new(need => [qw(redis)]);
$t->start_redis;
print "PID ", $t->pid('redis'), "\n";
STDOUT->flush;
sleep 60;
PERL
my $kid = open(my $fh, '-|', "exec $^X $sleeper 2>/dev/null")
    or die "cannot run: $!";
my $line = <$fh> // '';
my ($redis_pid) = $line =~ /^PID (\d+)/;
ok($redis_pid && kill(0, $redis_pid), 'the second script runs a redis');
kill 'TERM', $kid;
waitpid($kid, 0);
close $fh;
ok(!kill(0, $redis_pid // 0), 'TERM to the test script stopped its redis');

# ports are claimed machine-wide (tests side by side under prove -j): a
# port another live test holds is never handed, its claim file goes when
# that test ends, and a claim left by a test that is gone is taken over
my $claimer = $t->write_file('claims.pl', <<"PERL" . <<'PERL');
use lib '$lib';
PERL
use strict; use warnings;
use Test::More;
use Scaleset::Test;
my $t = Scaleset::Test->new;
print "PORTS ", join(' ', map { $t->port("p$_") } 1 .. 20), "\n";
STDOUT->flush;
<STDIN>;
ok(1);
$t->done;
PERL
use IPC::Open2 ();
my $ckid = IPC::Open2::open2(my $cout, my $cin, $^X, $claimer);
my ($plist) = (<$cout> // '') =~ /^PORTS (.*)/;
my @theirs = split ' ', $plist // '';
is(scalar @theirs, 20, 'another test claimed 20 ports');
my $pd = $Scaleset::Test::PORT_DIR;
is(scalar(grep { -f "$pd/$_" } @theirs), 20,
   "each is claimed in $pd while that test runs");
my $own = 0;
for my $p (@theirs) {
    $own++ if Scaleset::Test::_claim_port($p);
}
is($own, 0, 'none of its ports can be claimed by this test meanwhile');
my %mine = map { $t->port("mine$_") => 1 } 1 .. 200;
is(scalar(grep { $mine{$_} } @theirs), 0,
   '200 ports handed here meanwhile: none of the other test\'s');
print $cin "\n";
close $cin;
waitpid($ckid, 0);
is(scalar(grep { -e "$pd/$_" } @theirs), 0, 'its claims are gone with it');
# a claim of a process that is gone (a test killed by -9) is taken over
my $dead = fork() // die "fork: $!";
exit(0) unless $dead;
waitpid($dead, 0);
my $stale = $theirs[0];
open(my $sf, '>', "$pd/$stale") or die "$pd/$stale: $!";
print $sf "$dead\n";
close $sf;
ok(!Scaleset::Test::_claim_port($stale),
   'a dead test\'s claim made a moment ago is not taken (another test may '
   . 'be taking it over)');
utime(time - 10, time - 10, "$pd/$stale");
ok(Scaleset::Test::_claim_port($stale), 'a dead test\'s claim is taken over');
is(Scaleset::Test::_claim_pid("$pd/$stale"), $$, 'it holds this test\'s PID');
# an empty claim (no PID yet: never made by the harness, which links a
# written one into place) is not taken
my $empty = $theirs[1];
open($sf, '>', "$pd/$empty") or die "$pd/$empty: $!";
close $sf;
utime(time - 10, time - 10, "$pd/$empty");
ok(!Scaleset::Test::_claim_port($empty), 'an empty claim is not taken');
unlink "$pd/$empty";
# a claim of this test's that another took over meanwhile stays
my $lent = $theirs[2];
ok(Scaleset::Test::_claim_port($lent), 'a port claimed');
open($sf, '>', "$pd/$lent") or die "$pd/$lent: $!";
print $sf "1\n";    # taken over by another (init never ends)
close $sf;
Scaleset::Test::_release_ports();
ok(!-e "$pd/$stale", 'this test\'s claims released');
is(Scaleset::Test::_claim_pid("$pd/$lent"), 1,
   'but not one another test holds now');
unlink "$pd/$lent";

# the same servers in this process, stopped by stop_all
$t->start_redis;
ok(Scaleset::Test::port_open($t->port('redis')), 'redis listening');
is($t->redis->ping, 'PONG', 'redis answers PING through Redis.pm');
$t->start_backends(b1 => 'b1', b2 => 'b2');
$t->start_nginx(workers => 2, http => <<'CONF');
    upstream pair { server 127.0.0.1:%%PORT_b1%%; server 127.0.0.1:%%PORT_b2%%; }
    server { listen 127.0.0.1:%%PORT_http%%;
             location / { proxy_pass http://pair; } }
CONF
my @w = $t->nginx_workers;
is(scalar @w, 2, 'two nginx workers');

my %seen;
for (1 .. 10) {
    my ($code, $body) = $t->http_get('http', '/');
    $seen{$body}++ if $code == 200;
}
is_deeply([sort keys %seen], ["b1\n", "b2\n"], 'both backends answered');
is($t->backend_hits('b1') + $t->backend_hits('b2'), 10, 'backend hit counts');

$t->backend('b1', healthz => 503);
is(($t->http_get('b1', '/healthz'))[0], 503, 'backend switch applies');

ok($t->reload_nginx, 'nginx reloaded with a new worker generation');
is(($t->http_get('http', '/'))[0], 200, 'serving after reload');

my @all = ($t->pid('redis'), $t->pid('nginx'), $t->pid('backends'));
$t->stop_all;
ok(!(grep { kill 0, $_ } @all), 'stop_all ended every process');
$t->done;
