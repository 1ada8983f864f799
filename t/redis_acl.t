#!/usr/bin/perl
# The Redis ACL users of conf-examples/scaleset-users.acl (docs/security.md),
# loaded by a real Redis as its aclfile, with `default` off as the file
# says: a real gateway (nginx with the module) logs in as scaleset-gw1
# (username=, password_file=) and serves and reports health, at the same
# time a real scaler logs in as scaleset-scaler (redis.username,
# password_file) and scales out, drains and deletes, holding the ha lease
# (SET NX PX, the renewal and release scripts through the lease's
# selector, every write fenced).  Neither user can do more (NOPERM for
# the other side's keys, other gateways' health, the lease for the
# gateway, DEL and PEXPIRE beyond the lease for the scaler, admin
# commands); nobody gets in without a user.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Redis;
use Scaleset::Test;
use Scaleset::Pool;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
my $example = $t->read_file($t->root . '/conf-examples/scaleset-users.acl');
my %line;
for (split /\n/, $example) {
    $line{$1} = $_ if /^user (\S+) /;
}
ok($line{'scaleset-gw1'} && $line{'scaleset-scaler'},
   'the example has a gateway and a scaler user');
like($line{default} // '', qr/^user default off$/, 'and turns the default user off');
(my $acl = $example) =~ s/>GATEWAY_PASSWORD/>gwpass/;
$acl =~ s/>SCALER_PASSWORD/>scpass/;
$t->write_file('users.acl', "user admin on >adminpw ~* &* +\@all\n$acl");
$t->start_redis(conf => "aclfile $dir/users.acl");
$t->write_file('gw.pw', "gwpass\n");
$t->write_file('scaler.pw', "scpass\n");
chmod 0600, "$dir/gw.pw", "$dir/scaler.pw";

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
        ok(!$ok && $@ =~ /NOPERM|no permissions|can't access|NOAUTH/i,
           "$what: $cmd @args refused") or diag $@;
    }
}

# --- both sides at once --------------------------------------------------
$t->start_backends(b1 => 'b1');
pool_set($admin, 'web', { 'web-1' => addr($t, 'b1') });
$t->start_nginx(workers => 1, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%% username=scaleset-gw1
                   password_file=%%DIR%%/gw.pw;
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
my $s = Scaleset::Scaler->new($t, interval => '200ms',
    redis_extra => "username: scaleset-scaler, password_file: $dir/scaler.pw",
    top_extra => "ha: { lease: 2s }\n",
    pools => [ { name => 'app', capacity => [0, 4, 2], cidr => '127.0.9.0/24',
                 drain_timeout => '30s' } ]);
$s->start;

ok($t->wait_for(sub { (count_backends($t, 'http', 2)->{b1} // 0) == 2 },
                timeout => 10, what => 'served'),
   'the gateway reads the members as scaleset-gw1');
pool_set($admin, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b1') });
ok($t->wait_for(sub { my %h = $admin->hgetall('scaleset:{web}:health:gw1');
                      ($h{'web-2'} // '') =~ /^up / }, timeout => 10,
                what => 'health report'),
   'and follows its events, checks and reports its own health');

my $members = sub { my %m = $admin->hgetall('scaleset:{app}:members'); \%m };
ok($t->wait_for(sub { keys %{ $members->() } == 2 }, timeout => 10,
                what => '2 members'),
   'the scaler takes the lease and registers as scaleset-scaler (fenced EVAL: HSET, INCR, PUBLISH)');
like($admin->get('scaleset:scaler:lease') // '', qr/^[0-9a-f]{32} http:/,
     'the lease is held (SET NX PX)');
my %users = map { /\buser=(\S+)/ ? ($1 => 1) : () } split /\n/, $admin->client_list;
ok($users{'scaleset-gw1'} && $users{'scaleset-scaler'},
   'Redis lists both sides\' connections under their users');
# open connections on both before one is drained: a report written after
# the drain was seen could come after the pass that deletes it
$admin->hset('scaleset:{app}:health:gw1', $_,
             'up conns=3 fails=0 checked=' . int(time * 1000))
    for keys %{ $members->() };
my ($code) = $s->api('PUT', '/v1/pools/app/capacity', { capacity => 1 });
is($code, 200, 'PUT capacity (a fenced SET) under its ACL');
my $drained;
ok($t->wait_for(sub { ($drained) = grep { $members->()->{$_} =~ /\bdrain\b/ }
                                       keys %{ $members->() }; $drained },
                timeout => 10, what => 'drain'), 'a drain (HSETNX draining)');
$admin->hset('scaleset:{app}:health:gw1', $drained,
             'up conns=3 fails=0 checked=' . int(time * 1000)
             . ' at=' . int(time * 1000));
sleep 1;
ok(exists $members->()->{$drained}, 'the gateway report (SCAN, HSCAN) holds it');
$admin->hset('scaleset:{app}:health:gw1', $drained,
             'up conns=0 fails=0 checked=' . int(time * 1000)
             . ' at=' . int(time * 1000));
ok($t->wait_for(sub { !exists $members->()->{$drained} }, timeout => 10,
                what => 'deleted'), 'then it is deleted (HDEL)');
is($admin->get('scaleset:{app}:capacity'), 1, 'the capacity is stored');
cmp_ok($admin->get('scaleset:{app}:seq') // 0, '>=', 2, 'and the sequence');
is($admin->hget('scaleset:{app}:upgrade', 'state'), 'idle',
   'the upgrade record is written (EVAL: HGETALL, HDEL, HSET)');
my $pttl = $admin->pttl('scaleset:scaler:lease');
cmp_ok($pttl, '>', 1000, "the lease is renewed (PEXPIRE through the selector): ${pttl} ms left");
unlike($t->log('scaler'), qr/NOPERM|no permissions|redis: |could not be renewed/,
       'no Redis error in the scaler\'s log');
unlike($t->log('nginx'), qr/NOPERM|no permissions|NOAUTH/,
       'nor in the gateway\'s');

# --- what each may not do --------------------------------------------------
my $gw = client('scaleset-gw1', 'gwpass');
my $sc = client('scaleset-scaler', 'scpass');
is_deeply($gw->role->[0], 'master', 'the gateway may ask ROLE (Sentinel)');
is_deeply($sc->role->[0], 'master', 'and the scaler');
refused($gw, 'scaleset-gw1',
    [ 'hset', 'scaleset:{web}:members', 'evil', '169.254.169.254:80' ],
    [ 'hdel', 'scaleset:{web}:members', 'web-1' ],
    [ 'incr', 'scaleset:{web}:epoch' ],
    [ 'publish', 'scaleset:{web}:events', '99' ],
    [ 'hset', 'scaleset:{web}:health:gw2', 'web-1', 'up conns=0 fails=0 checked=1' ],
    [ 'get', 'scaleset:{web}:capacity' ],
    [ 'set', 'scaleset:{web}:capacity', '40' ],
    [ 'get', 'scaleset:scaler:lease' ],
    [ 'set', 'scaleset:scaler:lease', 'x' ],
    [ 'keys', '*' ], [ 'flushall' ], [ 'config', 'get', '*' ],
    [ 'eval', 'return 1', 0 ]);
refused($sc, 'scaleset-scaler',
    [ 'hset', 'scaleset:{app}:health:gw1', 'x', 'up conns=0 fails=0 checked=1' ],
    [ 'del', 'scaleset:{app}:health:gw1' ],
    [ 'del', 'scaleset:{app}:members' ],
    [ 'eval', "return redis.call('DEL', KEYS[1])", 1, 'scaleset:{app}:members' ],
    [ 'pexpire', 'scaleset:{app}:members', 1 ],
    [ 'set', 'other', '1' ], [ 'get', 'other' ],
    [ 'keys', '*' ], [ 'flushall' ], [ 'config', 'set', 'appendonly', 'no' ],
    [ 'acl', 'setuser', 'x' ]);
refused(client(), 'no user (default is off)',
    [ 'get', 'scaleset:{app}:capacity' ], [ 'hgetall', 'scaleset:{web}:members' ]);
is(scalar keys %{ { $admin->hgetall('scaleset:{web}:members') } }, 2,
   'the gateway\'s pool is untouched');

# the lease is released on SIGTERM (DEL through the selector)
$t->stop('scaler');
like($t->log('scaler'), qr/ha: lease released/, 'a stopping scaler releases its lease');
ok(!defined $admin->get('scaleset:scaler:lease'), 'the key is gone');
$t->stop_nginx;

$t->done;
