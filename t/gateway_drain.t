#!/usr/bin/perl
# Draining under continuous load: a member marked drain gets no new
# request, its requests in flight finish, no client request fails, and the
# gateway's health report shows its active count falling to 0.

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

# b1 is slow, so requests are in flight when the drain starts
$t->backend('b1', delay => 0.4, scope => 'traffic');

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=30s;
        scaleset_health_check interval=500ms timeout=300ms;
        keepalive 8;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF

ok($t->wait_for(sub {
    my $c = count_backends($t, 'http', 6);
    ($c->{b1} // 0) && ($c->{b2} // 0);
}, timeout => 5, what => 'both up'), 'both members serve');

# continuous load from 6 clients for 4 seconds
my $dir = $t->dir;
my $port = $t->port('http');
my @kids;
for my $k (1 .. 6) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        require HTTP::Tiny;
        my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
        my ($ok, $bad) = (0, 0);
        my $end = time + 4;
        while (time < $end) {
            my $res = $ua->get("http://127.0.0.1:$port/");
            $res->{status} == 200 ? $ok++ : $bad++;
        }
        open my $fh, '>', "$dir/client.$k" or POSIX::_exit(1);
        print $fh "$ok $bad\n";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sleep 1;
my $key = 'scaleset:{web}:health:gw1';
pool_set($r, 'web', { 'web-1' => addr($t, 'b1') . ' drain' });
my $drained_at = time;

# while draining, the report shows requests in flight to web-1
my $max_conns = 0;
my $zero = 0;
my $hits_at_zero;
while (time - $drained_at < 2.5) {
    my $rec = $r->hget($key, 'web-1') // '';
    if ($rec =~ /conns=(\d+)/) {
        $max_conns = $1 if $1 > $max_conns;
        if ($1 == 0 && time - $drained_at > 0.5) {
            $zero = 1;
            $hits_at_zero //= $t->backend_hits('b1');
        }
    }
    sleep 0.05;
}

waitpid($_, 0) for @kids;
my ($ok, $bad) = (0, 0);
for my $k (1 .. 6) {
    my ($o, $b) = split ' ', $t->read_file("client.$k") // '0 1';
    $ok += $o;
    $bad += $b;
}

is($bad, 0, "no failed client request ($ok succeeded) through the drain");
cmp_ok($max_conns, '>', 0, "the report showed requests in flight ($max_conns)");
ok($zero, 'the active count in the report reached 0');
is($t->backend_hits('b1'), $hits_at_zero // -1,
   'no new request reached the drained member after it emptied');

my ($code, $body) = $t->http_get('http', '/');
is($body, "b2\n", 'traffic goes to the other member');

$t->done;
