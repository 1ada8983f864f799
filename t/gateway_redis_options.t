#!/usr/bin/perl
# scaleset_redis password= and db=: the pool is read from the selected
# database after AUTH; a wrong password is reported once and keeps nothing
# from serving what is already known.

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
$t->start_backends(b1 => 'b1', b2 => 'b2');

# the pool in database 3 only; database 0 holds a decoy
pool_set($r, 'web', { 'web-9' => addr($t, 'b2') });
$r->select(3);
pool_set($r, 'web', { 'web-1' => addr($t, 'b1') });
$r->config_set('requirepass', 's3cret');
$r->auth('s3cret');

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%% password=s3cret db=3;
    scaleset_state_path %%DIR%%/state;
    upstream web { scaleset web resync=500ms; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
    }
EOF

ok($t->wait_for(sub { my $c = count_backends($t, 'http', 2); ($c->{b1} // 0) == 2 },
                timeout => 5, what => 'db 3 served'),
   'AUTH and SELECT: the pool of database 3 serves');
my $c = count_backends($t, 'http', 10);
is_deeply($c, { b1 => 10 }, 'nothing from database 0') or diag explain $c;

pool_set($r, 'web', { 'web-2' => addr($t, 'b2') });
ok($t->wait_for(sub { my $c = count_backends($t, 'http', 4); $c->{b2} },
                timeout => 5, what => 'change in db 3'),
   'changes in database 3 apply live');

# a wrong password: nginx keeps its members and says why, once
$t->stop_nginx;
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%% password=wrong db=3;
    scaleset_state_path %%DIR%%/state;
    upstream web { scaleset web resync=500ms; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
    }
EOF
ok($t->wait_for(sub { $t->log('nginx') =~ /redis \S+ refused the credentials \(AUTH: WRONGPASS [^)]*\)/ },
                timeout => 5, what => 'auth error'),
   'a refused AUTH is logged with the reason');
sleep 1.5;
my @n = $t->log('nginx') =~ /(redis \S+ (?:refused|unavailable))/g;
is(scalar @n, 1, 'and only once');
$c = count_backends($t, 'http', 10);
is_deeply($c, { b1 => 5, b2 => 5 }, 'the members from the state file serve')
    or diag explain $c;

$t->done;
