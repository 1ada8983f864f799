#!/usr/bin/perl
# The state file: written after each change (temp + rename), and used by an
# nginx started while Redis is down, which then serves the last known
# members and picks up Redis when it comes.

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
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

my $conf = <<'EOF';
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_state_path %%DIR%%/state;
    upstream web { scaleset web resync=1s; }
    upstream api { scaleset api resync=1s; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
        location /api { proxy_pass http://api; }
    }
EOF

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'),
                      'web-2' => addr($t, 'b2') . ' weight=3 zone=z1 version=7' });
pool_set($r, 'api', { 'api-1' => addr($t, 'b3') });
$t->start_nginx(workers => 2, http => $conf);

my $file = $t->dir . '/state/web.state';
ok($t->wait_for(sub { -f $file }, timeout => 5, what => 'state file'),
   'state file written');
my $state = $t->read_file($file);
like($state, qr/^# scaleset pool=web epoch=1$/m, 'state file header with the epoch');
like($state, qr/^web-2 127\.0\.0\.1:\d+ weight=3 zone=z1 version=7$/m,
     'state file holds the member records');
# the other pool's file may be being written right now (its temp file
# exists for that moment): left behind means still there once both
# pools' files are written
my @tmp;
$t->wait_for(sub { @tmp = glob $t->dir . '/state/*tmp*';
                   -f $t->dir . '/state/api.state' && !@tmp },
             timeout => 5, what => 'both state files, no temp file');
is(scalar @tmp, 0, 'no temp file left behind') or diag "@tmp";

pool_set($r, 'web', { 'web-3' => addr($t, 'b3') });
ok($t->wait_for(sub { $t->read_file($file) =~ /^web-3 /m }, timeout => 5,
                what => 'state file updated'), 'state file rewritten after a change');

$t->stop_nginx;
$t->kill_server('redis', 'KILL');

# nginx started while Redis is down: the last known members serve
$t->start_nginx(workers => 2, http => $conf);
like($t->log('nginx'), qr/3 members loaded from "[^"]*web\.state" \(epoch 2\)/,
     'state file loaded at start');

my $c = count_backends($t, 'http', 50);
is_deeply($c, { b1 => 10, b2 => 30, b3 => 10 },
          'nginx started with Redis down serves the last known members')
    or diag explain $c;
$c = count_backends($t, 'http', 5, '/api');
is_deeply($c, { b3 => 5 }, 'every pool has its own state file') or diag explain $c;

# Redis back with another membership: it wins, and the file follows
$t->start_redis;
pool_replace($t->redis('redis', fresh => 1), 'web', { 'web-1' => addr($t, 'b1') });
ok($t->wait_for(sub { my $c = count_backends($t, 'http', 4);
                      $c->{b1} && !$c->{b2} && !$c->{b3} }, timeout => 8,
                what => 'redis membership'),
   'Redis membership replaces the loaded one when it comes back');
ok($t->wait_for(sub { $t->read_file($file) !~ /^web-2 /m }, timeout => 5,
                what => 'state file follows'), 'state file follows Redis');

$t->done;
