#!/usr/bin/perl
# The scaler's Redis credentials (redis.username, password_file, db): a
# Redis with requirepass and an ACL user.  The right ones register, store
# the capacity and read reports on every connection the scaler makes (the
# passes', the loop's); a wrong password or none at all is a clear log
# line, errors_total{kind="auth"}, redis_up 0 and a 503 naming it, tried
# again every 10 s (Redis counts the refused AUTHs: no retry loop), and
# picked up when the operator fixes the user; db: selects the database;
# -t refuses what it can check.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Redis;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis(conf => 'requirepass adminpw');
my $admin = $t->redis('redis', password => 'adminpw');
$admin->acl('SETUSER', 'scaler', 'on', '>scpass', '~scaleset:*',
            '&scaleset:*', '+@all');
my $dir = $t->dir;
$t->write_file('admin.pw', "adminpw\n");
$t->write_file('scaler.pw', "scpass\n");
$t->write_file('wrong.pw', "nope\n");
chmod 0600, "$dir/$_" for qw(admin.pw scaler.pw wrong.pw);

sub scaler {
    my ($redis_extra, %o) = @_;
    return Scaleset::Scaler->new($t, interval => '200ms',
        redis_extra => $redis_extra, pools => [
            { name => 'web', capacity => [0, 5, 2], cidr => '127.0.9.0/24' } ],
        %o);
}
sub members {
    my ($db) = @_;
    my $r = $t->redis('redis', password => 'adminpw', fresh => 1);
    $r->select($db) if $db;
    my %m = $r->hgetall('scaleset:{web}:members');
    return \%m;
}
sub metric {
    my ($s, $re) = @_;
    my (undef, $m) = $s->api('GET', '/metrics');
    return ($m // '') =~ /^$re (\S+)$/m ? $1 : undef;
}
# the AUTHs Redis refused (ACL LOG: entries of reason auth, each with a
# count of the attempts it stands for)
sub refused_auths {
    my $n = 0;
    for my $e (@{ $admin->acl('LOG') }) {
        my %e = @$e;
        $n += $e{count} if $e{reason} eq 'auth';
    }
    return $n;
}

# --- requirepass: the default user's password from password_file ----------
my $s = scaler("password_file: $dir/admin.pw");
$s->start;
ok($t->wait_for(sub { keys %{ members() } == 2 }, timeout => 10,
                what => '2 members'), 'requirepass: the passes register');
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'and the loop stores the capacity (its own connection)');
ok($t->wait_for(sub { keys %{ members() } == 3 }, timeout => 10,
                what => '3 members'), 'which the passes apply');
is(metric($s, 'scaleset_scaler_errors_total\{pool="web",kind="auth"\}'), 0,
   'no auth error');
$t->stop('scaler');

# --- an ACL user, in another database ------------------------------------
$admin->del('scaleset:{web}:members', 'scaleset:{web}:capacity');
$s = scaler("username: scaler, password_file: $dir/scaler.pw, db: 2");
$s->start;
ok($t->wait_for(sub { keys %{ members(2) } == 2 }, timeout => 10,
                what => '2 members in db 2'),
   'ACL user scaler: registers in db 2');
is(scalar keys %{ members() }, 0, 'nothing in db 0');
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
is($code, 200, 'the loop writes as that user, in db 2');
my $r2 = $t->redis('redis', password => 'adminpw', fresh => 1);
$r2->select(2);
is($r2->get('scaleset:{web}:capacity'), 1, 'the capacity is in db 2');
my %clients = map { /\buser=(\S+)/ ? ($1 => 1) : () }
              split /\n/, $admin->client_list;
ok($clients{scaler}, 'Redis lists the scaler\'s connections as user scaler');
$t->stop('scaler');

# --- a wrong password ------------------------------------------------------
$s = scaler("username: scaler, password_file: $dir/wrong.pw");
my $before = refused_auths();
$s->start;
ok($t->wait_for(sub { $t->log('scaler') =~ /redis 127\.0\.0\.1:\d+ refused the credentials of user scaler \(AUTH: WRONGPASS[^)]*\): 1 attempts, retrying every 10s/ },
                timeout => 10, what => 'auth error'),
   'a wrong password: the log says the credentials of user scaler were refused');
ok($t->wait_for(sub { (metric($s, 'scaleset_scaler_errors_total\{pool="web",kind="auth"\}') // 0) >= 1 },
                timeout => 5, what => 'metric'), 'errors_total{kind="auth"} counts it');
is(metric($s, 'scaleset_scaler_redis_up\{pool="web"\}'), 0, 'redis_up is 0');
my $body;
($code, $body) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
is($code, 503, 'a write through the API is refused');
is($body->{error}, 'redis refused the scaler\'s credentials', 'and says why')
    or diag explain $body;
my $t0 = time;
sleep 3;
my $attempts = refused_auths() - $before;
cmp_ok($attempts, '<=', 3, "no retry loop: $attempts refused AUTHs in "
       . sprintf('%.1f', time - $t0 + 1) . ' s (one per connection, then one '
       . 'each 10 s)');
cmp_ok($attempts, '>=', 1, 'Redis saw the attempt');
my @logged = $t->log('scaler') =~ /(refused the credentials of user scaler .*retrying every)/g;
cmp_ok(scalar @logged, '<=', 3, 'logged once per connection, not per pass')
    or diag $t->log('scaler');
is(scalar keys %{ members() }, 0, 'nothing written');

# the operator gives the user the password the scaler has: picked up by
# the next attempt (within 10 s)
$admin->acl('SETUSER', 'scaler', 'resetpass', '>nope');
ok($t->wait_for(sub { keys %{ members() } == 2 }, timeout => 15,
                what => 'fixed'), 'a fixed user is picked up by the next attempt');
like($t->log('scaler'), qr/redis 127\.0\.0\.1:\d+ connected/, 'connected is logged');
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
ok($code == 200 || $t->wait_for(sub {
        ($s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 }))[0] == 200 },
        timeout => 15, what => 'loop writes again'),
   'the loop\'s writes work again');
$t->stop('scaler');

# --- no password where one is required --------------------------------------
$s = scaler('');
$s->start;
ok($t->wait_for(sub { $t->log('scaler') =~ /refused the credentials \(no redis\.password_file: NOAUTH/ },
                timeout => 10, what => 'NOAUTH'),
   'no password_file against requirepass: says so');
$t->stop('scaler');

# --- -t ---------------------------------------------------------------------
for my $case (
    [ "username: scaler", qr/redis: username "scaler" needs password_file/ ],
    [ "password_file: $dir/none.pw", qr{password_file "\Q$dir\E/none\.pw": No such file} ],
    [ "password_file: $dir/empty.pw", qr/holds nothing on its first line/ ],
    [ "db: x", qr/"x" is not an integer in 0\.\.2147483647/ ],
) {
    $t->write_file('empty.pw', "\n");
    my $conf = scaler($case->[0])->write_config;
    my $out = qx{@{[ $t->bin('scaleset-scaler') ]} -t -c $conf 2>&1};
    isnt($? >> 8, 0, "-t refuses '$case->[0]'");
    like($out, qr/^\Q$conf\E:1: /, 'with file:line');
    like($out, $case->[1], 'and says why') or diag $out;
}

$t->done;
