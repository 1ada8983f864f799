#!/usr/bin/perl
# The Redis ACL users of conf-examples/scaleset-users.acl (docs/security.md),
# loaded by a real Redis as its aclfile: a real gateway (nginx with the
# module) serves and reports health under the gateway's rules, a real
# scaler scales out, drains and deletes under the scaler's; neither user
# can do more (NOPERM for the other side's keys, other gateways' health,
# admin commands).  The gateway and the scaler authenticate with a password
# only (the "default" user) until usernames are configurable, so the test
# gives `default` each side's rules in turn, from the shipped lines.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Redis;
use Scaleset::Test;
use Scaleset::Pool;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my %line;
for (split /\n/, $t->read_file($t->root . '/conf-examples/scaleset-users.acl')) {
    $line{$1} = $_ if /^user (\S+) /;
}
ok($line{'scaleset-gw1'} && $line{'scaleset-scaler'},
   'the example has a gateway and a scaler user');

# `default` with the rules of one of them (its password, or none)
sub as_default {
    my ($user, $pass) = @_;
    (my $l = $line{$user}) =~ s/^user \S+ on >\S+ /user default on /;
    return $l =~ s/^user default on /"user default on " . ($pass ? ">$pass " : 'nopass ')/er;
}
sub aclfile {
    my ($default) = @_;
    my $text = "user admin on >adminpw ~* &* +\@all\n"
             . ($line{'scaleset-gw1'} =~ s/>GATEWAY_PASSWORD/>gwpass/r) . "\n"
             . ($line{'scaleset-scaler'} =~ s/>SCALER_PASSWORD/>scpass/r) . "\n"
             . "$default\n";
    $t->write_file('users.acl', $text);
}
aclfile(as_default('scaleset-gw1', 'gwpass'));
$t->start_redis(conf => 'aclfile ' . $t->dir . '/users.acl');

sub client {
    my (@auth) = @_;
    my $r = Redis->new(server => '127.0.0.1:' . $t->port('redis'),
                       reconnect => 0, cnx_timeout => 2, read_timeout => 5);
    $r->auth(@auth) if @auth;
    return $r;
}
my $admin = client('admin', 'adminpw');

# NOPERM (or NOAUTH) for each command, as that user
sub refused {
    my ($r, $what, @cmds) = @_;
    for my $c (@cmds) {
        my ($cmd, @args) = @$c;
        my $ok = eval { $r->$cmd(@args); 1 };
        ok(!$ok && $@ =~ /NOPERM|no permissions/i, "$what: $cmd @args refused")
            or diag $@;
    }
}

# --- the gateway -------------------------------------------------------
$t->start_backends(b1 => 'b1');
pool_set($admin, 'web', { 'web-1' => addr($t, 'b1') });
$t->start_nginx(workers => 1, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%% password=gwpass;
    scaleset_gateway_id gw1;
    scaleset_state_path %%DIR%%/state;
    upstream web {
        scaleset web resync=500ms;
        scaleset_health_check interval=300ms timeout=200ms passes=1;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
    }
EOF
ok($t->wait_for(sub { (count_backends($t, 'http', 2)->{b1} // 0) == 2 },
                timeout => 10, what => 'served'),
   'the gateway reads the members under its ACL');
pool_set($admin, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b1') });
ok($t->wait_for(sub { my %h = $admin->hgetall('scaleset:{web}:health:gw1');
                      ($h{'web-2'} // '') =~ /^up / }, timeout => 10,
                what => 'health report'),
   'and follows its events, checks and reports its own health');
unlike($t->log('nginx'), qr/NOPERM|no permissions|NOAUTH/,
       'no permission error in the gateway\'s log');

for my $r ([ 'default (the gateway)', client('gwpass') ],
           [ 'scaleset-gw1', client('scaleset-gw1', 'gwpass') ]) {
    refused($r->[1], $r->[0],
        [ 'hset', 'scaleset:{web}:members', 'evil', '169.254.169.254:80' ],
        [ 'hdel', 'scaleset:{web}:members', 'web-1' ],
        [ 'incr', 'scaleset:{web}:epoch' ],
        [ 'publish', 'scaleset:{web}:events', '99' ],
        [ 'hset', 'scaleset:{web}:health:gw2', 'web-1', 'up conns=0 fails=0 checked=1' ],
        [ 'get', 'scaleset:{web}:capacity' ],
        [ 'set', 'scaleset:{web}:capacity', '40' ],
        [ 'keys', '*' ], [ 'flushall' ], [ 'config', 'get', '*' ],
        [ 'eval', 'return 1', 0 ]);
}
is(scalar keys %{ { $admin->hgetall('scaleset:{web}:members') } }, 2,
   'the members are untouched');
$t->stop_nginx;

# --- the scaler --------------------------------------------------------
aclfile(as_default('scaleset-scaler', undef));
is($admin->acl('load'), 'OK', 'ACL LOAD: default gets the scaler\'s rules');
$admin = client('admin', 'adminpw');     # ACL LOAD closes its users' clients
my $s = Scaleset::Scaler->new($t, interval => '200ms', pools => [
    { name => 'app', capacity => [0, 4, 2], cidr => '127.0.9.0/24',
      drain_timeout => '30s' } ]);
$s->start;
my $members = sub { my %m = $admin->hgetall('scaleset:{app}:members'); \%m };
ok($t->wait_for(sub { keys %{ $members->() } == 2 }, timeout => 10,
                what => '2 members'),
   'the scaler registers under its ACL (MULTI, HSET, INCR, EVAL/PUBLISH)');
my ($code) = $s->api('PUT', '/v1/pools/app/capacity', { capacity => 1 });
is($code, 200, 'PUT capacity (SET) under its ACL');
my $drained;
ok($t->wait_for(sub { ($drained) = grep { $members->()->{$_} =~ /\bdrain\b/ }
                                       keys %{ $members->() }; $drained },
                timeout => 10, what => 'drain'), 'a drain (HSETNX draining)');
$admin->hset('scaleset:{app}:health:gw1', $drained,
             'up conns=3 fails=0 checked=' . int(time * 1000));
sleep 1;
ok(exists $members->()->{$drained}, 'the gateway report (SCAN, HGET) holds it');
$admin->hset('scaleset:{app}:health:gw1', $drained,
             'up conns=0 fails=0 checked=' . int(time * 1000));
ok($t->wait_for(sub { !exists $members->()->{$drained} }, timeout => 10,
                what => 'deleted'), 'then it is deleted (HDEL)');
is($admin->get('scaleset:{app}:capacity'), 1, 'the capacity is stored');
cmp_ok($admin->get('scaleset:{app}:seq') // 0, '>=', 2, 'and the sequence');
is($admin->hget('scaleset:{app}:upgrade', 'state'), 'idle',
   'the upgrade record is written (EVAL: HGET, DEL, HSET)');
unlike($t->log('scaler'), qr/NOPERM|no permissions|redis: /,
       'no Redis error in the scaler\'s log');

for my $r ([ 'default (the scaler)', client() ],
           [ 'scaleset-scaler', client('scaleset-scaler', 'scpass') ]) {
    refused($r->[1], $r->[0],
        [ 'hset', 'scaleset:{app}:health:gw1', 'x', 'up conns=0 fails=0 checked=1' ],
        [ 'del', 'scaleset:{app}:health:gw1' ],
        [ 'set', 'other', '1' ], [ 'get', 'other' ],
        [ 'keys', '*' ], [ 'flushall' ], [ 'config', 'set', 'appendonly', 'no' ],
        [ 'acl', 'setuser', 'x' ], [ 'pexpire', 'scaleset:{app}:members', 1 ]);
}

$t->done;
