#!/usr/bin/perl
# The state file is written safely and read warily: two nginx instances
# sharing a state directory never collide on a temporary file; the file
# and its directory are fsynced, by a thread of nginx's thread pool, not
# the event loop; the master (root) that reads it at start refuses a
# symlink, a FIFO (which would block it), a hard link and a file larger
# than the pool can hold.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
my $strace = Scaleset::Test::_which('strace')
    or BAIL_OUT('strace not found: run make deps');
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');
my $dir = $t->dir;

sub conf {
    my ($gw, $port, $state) = @_;
    $state //= '';
    return <<"EOF";
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id $gw;
    scaleset_state_path %%DIR%%/state $state;
    upstream web { scaleset web max_members=1024 resync=30s; }
    server {
        listen 127.0.0.1:%%PORT_$port%%;
        location / { proxy_pass http://web; }
    }
EOF
}

# 1: two instances, one state directory, changes that both write at once
my $N = 1000;
pool_set($r, 'web', { map { ("web-$_" => addr($t, 'b1')) } 1 .. $N });
$t->start_nginx(name => 'gw1', workers => 1, http => conf('gw1', 'http1'));
$t->start_nginx(name => 'gw2', workers => 1, http => conf('gw2', 'http2'));
my $file = "$dir/state/web.state";
ok($t->wait_for(sub { -f $file }, what => 'state file'), 'state file written');

for my $i (1 .. 100) {
    pool_set($r, 'web', { "web-$i" => addr($t, 'b2') });
    sleep 0.02;
}
pool_set($r, 'web', { 'web-1' => addr($t, 'b3') });
ok($t->wait_for(sub { ($t->read_file($file) // '') =~ /^web-1 \Q${\ addr($t, 'b3')}\E$/m },
                timeout => 10, what => 'the last change in the file'),
   'the file ends with the last membership');
sleep 0.5;
my $st = $t->read_file($file);
my @lines = grep { !/^#/ } split /\n/, $st;
is(scalar @lines, $N, "complete: $N members");
my @bad = grep { !/^web-\d+ 127\.0\.0\.1:\d+$/ } @lines;
is(scalar @bad, 0, 'every line a member') or diag join "\n", @bad[0 .. 3];
for my $gw (qw(gw1 gw2)) {
    my @err = grep { /state|rename|\.tmp/ && /\[(error|crit|alert)\]/ }
              split /\n/, $t->log($gw);
    is(scalar @err, 0, "$gw: no failed write of the shared state file")
        or diag join "\n", @err[0 .. ($#err > 4 ? 4 : $#err)];
}
my @tmp = glob "$dir/state/*tmp*";
is(scalar @tmp, 0, 'no temporary file left behind') or diag "@tmp";

# 2: fsync of the file and of the directory, on a thread of the pool
# (gw1 names nginx's default pool), or on the event loop without one (gw2)
$t->stop_nginx('gw1');
$t->stop_nginx('gw2');
$t->start_nginx(name => 'gw1', workers => 1,
                http => conf('gw1', 'http1', 'thread_pool=default'));

my $n = 2;
sub traced_write {
    my ($name) = @_;
    my ($worker) = $t->nginx_workers($name);
    my $trace = "$dir/strace-$name.log";
    $t->spawn(name => "strace-$name",
              cmd => [$strace, '-f', '-y', '-qq', '-o', $trace, '-e',
                      'trace=fsync,fdatasync,rename,renameat,renameat2',
                      '-p', $worker],
              stop_signal => 'INT');
    ok($t->wait_for(sub {
        my @tasks = glob "/proc/$worker/task/*/status";
        return @tasks
               && !grep { ($t->read_file($_) // '') =~ /^TracerPid:\s+0$/m } @tasks;
    }, timeout => 10, what => 'strace attached'), "$name: strace attached to every thread");
    pool_set($r, 'web', { 'web-' . $n++ => addr($t, 'b3') });
    ok($t->wait_for(sub { ($t->read_file($trace) // '') =~ /fsync\(\d+<\Q$dir\E\/state>\)/ },
                    timeout => 10, what => 'directory fsync'), "$name: traced a state write");
    $t->stop("strace-$name");
    my $tr = $t->read_file($trace) // '';
    my ($ftid) = $tr =~ /^(\d+)\s+fsync\(\d+<\Q$dir\E\/state\/web\.state\.\d+\.tmp>\)/m;
    ok($ftid, "$name: the temporary file is fsynced") or diag $tr;
    my ($rtid) = $tr =~ /^(\d+)\s+rename\w*\(.*web\.state\.\d+\.tmp.*web\.state"/m;
    ok($rtid, "$name: then renamed into place") or diag $tr;
    my ($dtid) = $tr =~ /^(\d+)\s+fsync\(\d+<\Q$dir\E\/state>\)/m;
    ok($dtid, "$name: then the directory is fsynced") or diag $tr;
    return ($ftid // 0, $worker);
}

my ($ftid, $worker) = traced_write('gw1');
ok($ftid && $ftid != $worker, "with thread_pool=: by a thread ($ftid), not the event loop ($worker)");
$t->stop_nginx('gw1');
$t->start_nginx(name => 'gw2', workers => 1, http => conf('gw2', 'http2'));
($ftid, $worker) = traced_write('gw2');
is($ftid, $worker, 'without a thread pool: on the event loop, no thread made for it');
my @threads = glob "/proc/$worker/task/*";
is(scalar @threads, 1, 'the worker has one thread');
$t->stop_nginx('gw2');

# 3: what the master refuses to read at start (Redis down)
$t->stop('redis');
my $secret = $t->write_file('secret', '# scaleset pool=web epoch=9' . "\n"
                            . 'web-9 ' . addr($t, 'b3') . "\n");

sub start_refused {
    my ($what) = @_;
    my $ok = eval {
        $t->start_nginx(name => 'gw1', workers => 1, timeout => 8,
                        http => conf('gw1', 'http1'));
        1;
    };
    ok($ok, "$what: nginx starts") or diag $@;
    return unless $ok;
    my ($code) = $t->http_get('http1', '/');
    is($code, 502, "$what: nothing loaded from it");
    $t->stop_nginx('gw1');
}

unlink $file;
symlink $secret, $file or die "symlink: $!";
start_refused('a symlink');
like($t->log('gw1'), qr/\Q$file\E" failed \(40: Too many levels of symbolic links\)/,
     'the symlink is named in the log');

unlink $file;
system('mkfifo', $file) == 0 or die 'mkfifo';
start_refused('a FIFO');
like($t->log('gw1'), qr/"\Q$file\E" is not a regular file/, 'the FIFO is refused');

unlink $file;
link $secret, $file or die "link: $!";
start_refused('a hard link');
like($t->log('gw1'), qr/"\Q$file\E" has 2 links/, 'the hard link is refused');

unlink $file;
$t->write_file($file, $t->read_file($secret) . ('# padding' . ' ' x 70 . "\n") x 10000);
start_refused('a file too large');
like($t->log('gw1'), qr/"\Q$file\E" is larger than/, 'the large file is refused');

# the real thing still loads
unlink $file;
$t->write_file($file, $t->read_file($secret));
$t->start_nginx(name => 'gw1', workers => 1, http => conf('gw1', 'http1'));
my (undef, $body) = $t->http_get('http1', '/');
is($body, "b3\n", 'a regular state file loads');

$t->done;
