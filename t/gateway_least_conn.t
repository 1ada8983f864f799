#!/usr/bin/perl
# balance=least_conn: a slow member gets fewer requests under concurrency;
# with no request in flight ties go by weighted round robin.

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
$t->start_backends(slow => 'slow', fast => 'fast');

pool_set($r, 'web', { 'web-1' => addr($t, 'slow'), 'web-2' => addr($t, 'fast') });

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web balance=least_conn resync=30s; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
    }
EOF

$t->wait_for(sub { my ($c) = $t->http_get('http', '/'); $c == 200 },
             what => 'served');

# idle: ties broken by round robin
my $c = count_backends($t, 'http', 20);
is_deeply($c, { slow => 10, fast => 10 }, 'no load: round robin between ties')
    or diag explain $c;

# weighted ties
pool_set($r, 'web', { 'web-2' => addr($t, 'fast') . ' weight=3' });
$t->wait_for(sub { my $c = count_backends($t, 'http', 4);
                   ($c->{fast} // 0) == 3 }, what => 'weight 3');
$c = count_backends($t, 'http', 40);
is_deeply($c, { slow => 10, fast => 30 }, 'no load: weighted ties 1:3')
    or diag explain $c;
pool_set($r, 'web', { 'web-2' => addr($t, 'fast') });

$t->backend('slow', delay => 0.4);
my $s0 = $t->backend_hits('slow');
my $f0 = $t->backend_hits('fast');

# 8 clients for 3 seconds
my @kids;
for my $k (1 .. 8) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $end = time + 3;
        my $bad = 0;
        while (time < $end) {
            my ($code) = $t->http_get('http', '/');
            $bad++ if $code != 200;
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @kids, $pid;
}
my $failed = 0;
for (@kids) { waitpid($_, 0); $failed++ if $? }
is($failed, 0, 'all requests under load succeeded');

my $slow = $t->backend_hits('slow') - $s0;
my $fast = $t->backend_hits('fast') - $f0;
note("slow $slow, fast $fast");
cmp_ok($fast, '>', 10 * ($slow || 1), "the slow member gets far fewer requests "
                                      . "(slow $slow, fast $fast)");
cmp_ok($slow, '>=', 1, 'the slow member still gets requests');

$t->done;
