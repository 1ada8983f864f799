#!/usr/bin/perl
# One worker at a time holds the Redis connections (a lease in shared
# memory); when that worker is killed with SIGKILL another takes over
# within two resync intervals and changes keep applying.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1') });
pool_set($r, 'api', { 'api-1' => addr($t, 'b2') });

$t->start_nginx(workers => 3, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web resync=1s; }
    upstream api { scaleset api resync=1s; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
        location /api { proxy_pass http://api; }
    }
EOF

sub holders { my @h = $t->log('nginx') =~ /worker (\d+) holds the Redis lease/g; @h }
# Redis clients other than this test's own (eval, client list)
sub nginx_clients {
    return grep { !/cmd=(client|eval)\b/ }
           split /\n/, $t->redis('redis', fresh => 1)->client_list;
}

ok($t->wait_for(sub { holders() >= 1 }, timeout => 5, what => 'lease'),
   'a worker holds the lease');
$t->wait_for(sub { my ($c) = $t->http_get('http', '/'); $c == 200 },
             what => 'served');
sleep 0.5;
my @h = holders();
is(scalar @h, 1, 'exactly one worker took the lease');
my $holder = $h[0];
ok((grep { $_ == $holder } $t->nginx_workers), 'the holder is a worker');

my @clients = nginx_clients();
is(scalar @clients, 2, 'the nginx keeps two Redis connections for two pools '
                       . 'and three workers') or diag join "\n", @clients;

kill 'KILL', $holder;
my $t0 = time;
ok($t->wait_for(sub { grep { $_ != $holder } holders() }, timeout => 3,
                what => 'takeover'),
   'another worker takes the lease over');
my $dt = time - $t0;
cmp_ok($dt, '<', 2, sprintf('takeover within two resync intervals (%.2fs)', $dt));

my $new = (grep { $_ != $holder } holders())[0];
like($t->log('nginx'), qr/worker $new holds the Redis lease \(previous holder $holder\)/,
     'the takeover names the dead holder');

pool_set($r, 'web', { 'web-3' => addr($t, 'b3') });
ok($t->wait_for(sub { my $c = count_backends($t, 'http', 4); $c->{b3} },
                timeout => 3, what => 'change after takeover'),
   'changes apply after the takeover');

@clients = nginx_clients();
is(scalar @clients, 2, 'still two Redis connections after the takeover')
    or diag join "\n", @clients;

# the master starts a new worker: still one holder
$t->wait_for(sub { $t->nginx_workers == 3 }, what => 'worker respawned');
sleep 1;
is(scalar(grep { $_ != $holder } holders()), 1, 'one holder after the respawn');

# the master logs the killed worker as an alert; that one is expected
my $log = $t->log('nginx');
my @alerts = grep { /\[(alert|emerg|crit)\]/ && !/exited on signal 9/ }
             split /\n/, $log;
is(scalar @alerts, 0, 'no other alerts') or diag join "\n", @alerts;

# keep done's own check quiet about the expected alert
my $elog = $t->dir . '/nginx/error.log';
$t->stop_nginx;
if (open my $fh, '<', $elog) {
    my @lines = grep { !/exited on signal 9/ } <$fh>;
    close $fh;
    open $fh, '>', $elog or die;
    print $fh @lines;
    close $fh;
}

$t->done;
