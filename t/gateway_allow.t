#!/usr/bin/perl
# scaleset_allow: a member whose address is outside the allowed ones is
# skipped like a bad record (counted, logged once), and never connected to
# nor checked.  Default: any IP but link-local, 0.0.0.0/8 and ::, no unix:
# socket.  (No test registers a link-local address: a regressed gateway
# would connect to it.  Loopback ranges left out of an explicit list and
# unix: sockets of the test's own stand for them.)  A reload that narrows
# the list removes such members even while Redis is down; bad lists fail
# nginx -t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
my $dir = $t->dir;
mkdir "$dir/ok";
my $p3 = $t->port('b3');
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => "127.0.0.2:$p3",
                   u => "unix:$dir/ok/u.sock", v => "unix:$dir/v.sock");

sub conf {
    my ($http, $web, $api) = @_;
    return <<"EOF";
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_state_path %%DIR%%/state;
    $http
    upstream web {
        scaleset web resync=500ms;
        scaleset_health_check interval=300ms timeout=200ms;
        $web
    }
    upstream api {
        scaleset api resync=500ms;
        scaleset_health_check interval=300ms timeout=200ms;
        $api
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location /web/ { proxy_pass http://web; }
        location /api/ { proxy_pass http://api; }
        location = /status { scaleset_status; }
    }
EOF
}

sub status { $t->gateway_status }

sub members {
    my ($pool) = @_;
    return join ' ', sort map { $_->{id} } @{ status()->{pools}{$pool}{members} // [] };
}

sub serving {
    my ($path) = @_;
    my $c = count_backends($t, 'http', 12, $path);
    return join ' ', sort keys %$c;
}

# 1: the default: IPs (loopback here) yes, unix: sockets no
pool_set($r, 'web', { 'web-1' => addr($t, 'b1'),
                      'web-u' => "unix:$dir/ok/u.sock" });
pool_set($r, 'api', { 'api-1' => addr($t, 'b2') });
$t->start_nginx(workers => 2, http => conf('', '', ''));

ok($t->wait_for(sub { serving('/web/') eq 'b1' }, timeout => 5,
                what => 'web served'), 'the default allows a loopback IP');
is(members('web'), 'web-1', 'a unix: member is skipped by default');
is(status()->{pools}{web}{bad_records}, 1, 'and counted as a bad record');
sleep 1.5;                                  # three resyncs, five checks
my @log = $t->log('nginx') =~ /member "web-u" skipped: ([^\n]*)/g;
is(scalar @log, 1, 'logged once') or diag explain \@log;
like($log[0] // '', qr{unix:\Q$dir\E/ok/u\.sock is not allowed by "scaleset_allow"},
     'with the reason');
is($t->backend_accepted('u'), 0, 'never connected to, nor checked');

# 2: explicit lists: http level for web, upstream level (replacing it)
# for api; a loopback range left out stands for a forbidden network
$t->stop_nginx;
pool_set($r, 'web', { 'web-3' => "127.0.0.2:$p3",
                      'web-x' => "unix:$dir/ok/../v.sock",
                      'web-v' => "unix:$dir/v.sock" });
pool_set($r, 'api', { 'api-3' => "127.0.0.2:$p3" });
$t->start_nginx(workers => 2, http => conf(
    "scaleset_allow 127.0.0.1/32;\n    scaleset_allow unix:%%DIR%%/ok/;",
    '', 'scaleset_allow 127.0.0.2/32;'));

ok($t->wait_for(sub { members('web') eq 'web-1 web-u' }, timeout => 5,
                what => 'web members'),
   'http level: 127.0.0.1/32 and unix:DIR/ok/ are allowed, the rest not')
    or diag members('web');
ok($t->wait_for(sub { serving('/web/') eq 'b1 u' }, timeout => 5,
                what => 'web served'), 'the allowed unix: member serves');
is(status()->{pools}{web}{bad_records}, 3, 'three bad records in web');
like($t->log('nginx'), qr{member "web-x" skipped: unix:\Q$dir\E/ok/\.\./v\.sock is not allowed},
     'a path leaving the prefix with ".." is not in it');
is(members('api'), 'api-3', 'upstream level replaces the http level');
ok($t->wait_for(sub { serving('/api/') eq 'b3' }, timeout => 5,
                what => 'api served'), 'and its member serves');
my $b3 = $t->backend_accepted('b3');
sleep 1;
my $c = count_backends($t, 'http', 20, '/web/');
ok(!$c->{b3} && !$c->{v}, 'web never sends to what it does not allow')
    or diag explain $c;
is($t->backend_accepted('v'), 0, 'the forbidden unix: socket was never connected to');
# b3 is api's member: its checks go on, web's own never started
ok($t->backend_hits('b3') > 0, 'api uses b3');

# 3: a reload that narrows the list, with Redis down: the new lease holder
# drops what is no longer allowed, from the kept zone
$t->stop('redis');
$t->reload_nginx(http => conf("scaleset_allow unix:%%DIR%%/ok/;", '', ''));
ok($t->wait_for(sub { members('web') eq 'web-u' }, timeout => 5,
                what => 'web narrowed'),
   'after the reload only the still allowed member is left (Redis down)')
    or diag members('web');
like($t->log('nginx'), qr/member "web-1" removed: its address is not allowed by "scaleset_allow"/,
     'the removal is logged');
ok($t->wait_for(sub { members('api') eq '' }, timeout => 5,
                what => 'api narrowed'),
   'api lost its member too') or diag members('api');
my $b1 = $t->backend_accepted('b1');
sleep 1;
is($t->backend_accepted('b1'), $b1, 'no connection to the removed member since');
$c = count_backends($t, 'http', 10, '/web/');
is_deeply($c, { u => 10 }, 'the rest serves') or diag explain $c;

# 4: nginx -t
for my $case (
    [ 'scaleset_allow 10.0.0.0/33;', qr/invalid parameter "10\.0\.0\.0\/33" in "scaleset_allow"/ ],
    [ 'scaleset_allow gw.example.com;', qr/invalid parameter "gw\.example\.com" in "scaleset_allow"/ ],
    [ 'scaleset_allow unix:run/;', qr/invalid parameter "unix:run\/" in "scaleset_allow"/ ],
    [ 'scaleset_allow;', qr/invalid number of arguments in "scaleset_allow"/ ],
) {
    my ($rc, $out) = $t->nginx_test(http => conf($case->[0], '', ''));
    isnt($rc, 0, "nginx -t refuses '$case->[0]'");
    like($out, $case->[1], 'and says why') or diag $out;
}
my ($rc, $out) = $t->nginx_test(http => conf('scaleset_allow 10.1.2.3/8;', '', ''));
is($rc, 0, 'host bits in a CIDR are accepted');
like($out, qr/low address bits of 10\.1\.2\.3\/8 are meaningless/, 'with nginx\'s warning');
($rc, $out) = $t->nginx_test(http => <<'EOF');
    scaleset_redis 127.0.0.1:6379;
    upstream plain { server 127.0.0.1:1; scaleset_allow 127.0.0.1; }
    upstream web { scaleset web; }
EOF
isnt($rc, 0, 'scaleset_allow in an upstream without scaleset is refused');
like($out, qr/"scaleset_allow" in upstream "plain" without "scaleset"/, 'and named') or diag $out;

$t->done;
