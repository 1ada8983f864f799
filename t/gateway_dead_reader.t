#!/usr/bin/perl
# A worker that dies while it holds a pool's read lock (here: SIGKILL
# while the status handler prints the members under it, stopped there
# with gdb) must not leave the lock held: the next membership change
# still applies, and requests go on.  With a lock without owner recovery
# (nginx's ngx_rwlock) the writer waits forever for the dead reader.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1') });
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web resync=500ms; }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /status { scaleset_status; }
    }
EOF

sub status { $t->gateway_status }

ok($t->wait_for(sub { my ($c, $b) = $t->http_get('http', '/'); $b eq "b1\n" },
                what => 'served'), 'web-1 serves');

# the worker that does not hold the Redis lease: the lease holder applies
my $holder = status()->{redis}{lease_pid};
my ($victim) = grep { $_ != $holder } $t->nginx_workers;
ok($victim, "a worker other than the lease holder ($holder): $victim");

# gdb stops it in the status handler, then at the first address it
# prints (ngx_sock_ntop, called there only under the read lock, and the
# handler runs to its end without returning to the event loop), and
# kills it there
my $gdb_done = $t->gdb($victim, [
    'break ngx_http_scaleset_status_handler', 'continue',
    'break ngx_sock_ntop', 'continue', 'bt 3', 'kill']);

# status requests until one reaches the stopped worker
my $end = time + 30;
while (time < $end && !$gdb_done->()) {
    my $pid = fork // die;
    if ($pid == 0) {
        $t->http_get('http', '/status', timeout => 2);
        POSIX::_exit(0);
    }
    sleep 0.05;
    waitpid($pid, WNOHANG);
}
my $bt = $t->read_file($t->dir . '/gdb.log') // '';
ok($gdb_done->() && $bt =~ /ngx_http_scaleset_status_handler/,
   'the worker was killed inside the status handler') or diag $bt;
ok($t->wait_for(sub { !kill 0, $victim }, what => 'victim gone'), 'it is gone');

# a change after its death applies
pool_set($r, 'web', { 'web-2' => addr($t, 'b2') });
ok($t->wait_for(sub { my $c = count_backends($t, 'http', 6); $c->{b2} },
                timeout => 8, what => 'the change applied'),
   'a membership change after the dead reader still applies');
my $c = count_backends($t, 'http', 10);
is(($c->{b1} // 0) + ($c->{b2} // 0), 10, 'requests go on') or diag explain $c;

# the master logs the killed worker as an alert; that one is expected
my $elog = $t->dir . '/nginx/error.log';
$t->stop_nginx;
my @lines = grep { !/exited on signal 9/ } split /^/, $t->read_file($elog) // '';
$t->write_file($elog, join '', @lines);

$t->done;
