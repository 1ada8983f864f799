#!/usr/bin/perl
# Credentials: a Redis with requirepass and an ACL user holding only what
# a gateway needs (read its pools, write its own health key).  Right
# credentials (username= and password=, or password_file=) serve and
# report; wrong ones give a clear error in the log and a metric, and the
# gateway retries every 10 s, not in a loop; an ACL that refuses the
# health report leaves the reads working.  nginx -t checks what it can.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis(conf => 'requirepass adminpw');
my $r = $t->redis('redis', password => 'adminpw');
$t->start_backends(b1 => 'b1', b2 => 'b2');

# what a gateway needs: its pools read, its own health key written
$r->acl('SETUSER', 'gw', 'on', '>gwpass', 'resetkeys',
        '~scaleset:{*}:members', '~scaleset:{*}:epoch',
        '~scaleset:{*}:health:gw1', 'resetchannels', '&scaleset:{*}:events',
        '-@all', '+auth', '+hlen', '+multi', '+exec', '+hgetall', '+get',
        '+subscribe', '+del', '+hset', '+pexpire');
# a read-only one
$r->acl('SETUSER', 'reader', 'on', '>readpw', '~scaleset:*',
        'resetchannels', '&scaleset:*', '-@all', '+auth', '+hlen', '+multi',
        '+exec', '+hgetall', '+get', '+subscribe');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1') });

sub conf {
    my ($auth) = @_;
    return <<"EOF";
    scaleset_redis 127.0.0.1:%%PORT_redis%% $auth;
    scaleset_gateway_id gw1;
    scaleset_state_path %%DIR%%/state;
    upstream web {
        scaleset web resync=500ms;
        scaleset_health_check interval=300ms timeout=200ms;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /metrics { scaleset_metrics; }
        location = /status { scaleset_status; }
    }
EOF
}

sub metric {
    my ($re) = @_;
    my (undef, $body) = $t->http_get('http', '/metrics');
    return ($body // '') =~ /^$re (\S+)$/m ? $1 : undef;
}

# 1: the ACL user, right password
$t->start_nginx(workers => 2, http => conf('username=gw password=gwpass'));
ok($t->wait_for(sub { my (undef, $b) = $t->http_get('http', '/'); ($b // '') eq "b1\n" },
                timeout => 5, what => 'served'), 'ACL user gw: the pool serves');
pool_set($r, 'web', { 'web-2' => addr($t, 'b2') });
ok($t->wait_for(sub { count_backends($t, 'http', 6)->{b2} }, timeout => 5,
                what => 'change'), 'and changes apply');
ok($t->wait_for(sub { my $h = $r->hgetall('scaleset:{web}:health:gw1'); @{ $h // [] } >= 4 },
                timeout => 5, what => 'health report'),
   'the health report is written with the least privileges');
is(metric('scaleset_redis_errors_total\{kind="auth"\}'), 0, 'no auth error');
$t->stop_nginx;

# 2: wrong password: a clear error, a metric, no retry loop
$t->start_nginx(workers => 2, http => conf('username=gw password=wrong'));
ok($t->wait_for(sub { $t->log('nginx') =~ /\[error\].*redis 127\.0\.0\.1:\d+ refused the credentials of user gw \(AUTH: WRONGPASS[^)]*\): keeping the current members, 1 attempts, retrying every 10s/ },
                timeout => 5, what => 'auth error'),
   'wrong password: the log says the credentials of user gw were refused');
is(metric('scaleset_redis_errors_total\{kind="auth"\}'), 1, 'metric: one auth error');
like($t->gateway_status->{redis}{last_error} // '', qr/^auth: AUTH: WRONGPASS/,
     'the status page names it');
sleep 3;
is(metric('scaleset_redis_errors_total\{kind="auth"\}'), 1,
   'and no second attempt within 3 s (the next comes after 10 s)');
my (undef, $b) = $t->http_get('http', '/');
is($b, "b1\n", 'the members from the state file serve meanwhile')
    or diag $b;
# the operator fixes the password in Redis: picked up at the next attempt
$r->acl('SETUSER', 'gw', 'resetpass', '>wrong');
pool_replace($r, 'web', { 'web-2' => addr($t, 'b2') });
ok($t->wait_for(sub { my $c = count_backends($t, 'http', 6); !$c->{b1} },
                timeout => 15, what => 'retry'),
   'a fixed ACL is picked up by the next attempt');
like($t->log('nginx'), qr/redis 127\.0\.0\.1:\d+ connected again/, 'connected again');
$r->acl('SETUSER', 'gw', 'resetpass', '>gwpass');
$t->stop_nginx;

# 3: password_file= (read by the master at start, may be root's only)
my $pwf = $t->write_file('redis.pw', "gwpass\n");
chmod 0600, $pwf;
$t->start_nginx(workers => 1, http => conf("username=gw password_file=$pwf"));
ok($t->wait_for(sub { count_backends($t, 'http', 4)->{b2} }, timeout => 5,
                what => 'served'), 'password_file= works');
$t->stop_nginx;

# 4: an ACL that refuses the health report: reads go on, one error line
my $mark = length($t->log('nginx') // '');
$t->start_nginx(workers => 1, http => conf('username=reader password=readpw'));
ok($t->wait_for(sub { $t->log('nginx') =~ /refused a health report: NOPERM/ },
                timeout => 5, what => 'NOPERM'), 'a refused health report is logged');
pool_set($r, 'web', { 'web-1' => addr($t, 'b2') });
ok($t->wait_for(sub { my $c = count_backends($t, 'http', 6); !$c->{b1} },
                timeout => 5, what => 'change'), 'the reads still apply changes');
sleep 1;
my $log = substr($t->log('nginx'), $mark);
my @n = $log =~ /(refused a health report)/g;
is(scalar @n, 1, 'logged once (a minute)');
my @c = $log =~ /(redis \S+ connected|unavailable)/g;
is(scalar @c, 1, 'and the connection stays') or diag explain \@c;
cmp_ok(metric('scaleset_redis_errors_total\{kind="auth"\}'), '>=', 2,
       'each refusal is counted');
$t->stop_nginx;

# 5: nginx -t
for my $case (
    [ 'username=gw', qr/"scaleset_redis" username=gw needs password= or password_file=/ ],
    [ 'password_file=/nonexistent/pw', qr{open\(\) "/nonexistent/pw" failed \(2: No such file or directory\)} ],
    [ "password=x password_file=$pwf", qr/invalid parameter "password_file=\S+" in "scaleset_redis"/ ],
    [ 'timeout=10ms', qr/invalid parameter "timeout=10ms" in "scaleset_redis"/ ],
) {
    my ($rc, $out) = $t->nginx_test(http => conf($case->[0]));
    isnt($rc, 0, "nginx -t refuses '$case->[0]'");
    like($out, $case->[1], 'and says why') or diag $out;
}
$t->write_file('empty.pw', "\n");
my ($rc, $out) = $t->nginx_test(http => conf('password_file=' . $t->dir . '/empty.pw'));
like($out, qr/holds no password on its first line/, 'an empty password file is refused');

$t->done;
