#!/usr/bin/perl
# Redis killed and restarted: traffic keeps flowing on the known members,
# the outage is logged once, and a membership changed while nginx could not
# see it is applied after the reconnect (without any PUBLISH).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Copy qw(copy);
use Test::More;
use Time::HiRes qw(sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });

# resync far away: only the reconnect can pick up the change
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web resync=60s; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
    }
EOF

$t->wait_for(sub { my $c = count_backends($t, 'http', 2);
                   $c->{b1} && $c->{b2} }, what => 'served');

$t->kill_server('redis', 'KILL');

$t->wait_for(sub { $t->log('nginx') =~ /redis \S+ unavailable/ },
             timeout => 5, what => 'outage logged');

my $c = count_backends($t, 'http', 20);
is_deeply($c, { b1 => 10, b2 => 10 }, 'traffic keeps flowing while Redis is down')
    or diag explain $c;

sleep 2;    # several reconnect attempts
my @down = $t->log('nginx') =~ /(redis \S+ unavailable)/g;
is(scalar @down, 1, 'the outage is logged once, not per attempt');

# the membership as changed meanwhile: prepared in another redis, saved, and
# loaded by the restarted one from its dump file
my $r2srv = $t->start_redis(name => 'redis2');
my $r2 = $t->redis('redis2');
pool_set($r2, 'web', { 'web-2' => addr($t, 'b2'), 'web-3' => addr($t, 'b3') });
$r2->set('scaleset:{web}:epoch', 42);
$r2->save;
$t->stop('redis2');
copy($t->dir . '/redis2.rdb', $t->dir . '/redis.rdb') or die "copy: $!";

$t->start_redis;
ok($t->wait_for(sub { $t->log('nginx') =~ /redis \S+ connected again/ },
                timeout => 8, what => 'reconnected'),
   'reconnected after the restart');

ok($t->wait_for(sub { my $c = count_backends($t, 'http', 4);
                      $c->{b3} && !$c->{b1} }, timeout => 5,
                what => 'change applied'),
   'the change made while nginx could not see it applies after reconnect');
$c = count_backends($t, 'http', 20);
is_deeply($c, { b2 => 10, b3 => 10 }, 'new membership served') or diag explain $c;

# a Redis that comes back empty does not wipe the members
$t->kill_server('redis', 'KILL');
unlink $t->dir . '/redis.rdb';
$t->start_redis;
$t->wait_for(sub { my @n = $t->log('nginx') =~ /connected again/g; @n >= 2 },
             timeout => 8, what => 'reconnected twice');
sleep 0.3;
$c = count_backends($t, 'http', 20);
is_deeply($c, { b2 => 10, b3 => 10 }, 'an empty Redis does not drop the members')
    or diag explain $c;
like($t->log('nginx'), qr/do not exist, keeping the 2 known members/,
     'the empty Redis is logged');

# and changes flow again through PUBLISH
my $r3 = $t->redis('redis', fresh => 1);
pool_set($r3, 'web', { 'web-1' => addr($t, 'b1') });
$r3->hdel('scaleset:{web}:members', 'web-2');
pool_del($r3, 'web', 'web-3');
$t->wait_for(sub { my $c = count_backends($t, 'http', 4); $c->{b1} && !$c->{b3} },
             timeout => 5, what => 'change after restart');
$c = count_backends($t, 'http', 10);
is_deeply($c, { b1 => 10 }, 'changes after the restart apply live')
    or diag explain $c;

$t->done;
