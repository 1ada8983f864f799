#!/usr/bin/perl
# nginx -s reload under load keeps the membership (the shared zone is
# reused) and fails no request.

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

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });

my $conf = <<'EOF';
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web resync=60s; }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
    }
EOF
$t->start_nginx(workers => 2, http => $conf);
$t->wait_for(sub { my $c = count_backends($t, 'http', 2); $c->{b1} && $c->{b2} },
             what => 'served');

# a membership only nginx's zone knows: Redis forgets it (no epoch, no
# hash), so after a reload only the kept zone can explain b3 serving
pool_set($r, 'web', { 'web-3' => addr($t, 'b3') });
$t->wait_for(sub { my $c = count_backends($t, 'http', 3); $c->{b3} },
             what => 'b3 added');

# load: 4 clients counting failures into files
my @kids;
my $stop = $t->dir . '/stop';
for my $k (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($n, $bad) = (0, 0);
        my %seen;
        until (-e $stop) {
            my ($code, $body) = $t->http_get('http', '/');
            $n++;
            $bad++ if $code != 200;
            $seen{$code}++;
        }
        open my $fh, '>', $t->dir . "/load.$k" or POSIX::_exit(2);
        print $fh "$n $bad " . join(',', map { "$_=$seen{$_}" } sort keys %seen) . "\n";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sleep 0.5;
for my $i (1 .. 3) {
    ok($t->reload_nginx, "reload $i under load");
    sleep 0.5;
}

$r->del('scaleset:{web}:members', 'scaleset:{web}:epoch');
ok($t->reload_nginx, 'reload with Redis emptied');
sleep 0.5;

# a new zone size: the members move into the new zone
(my $bigger = $conf) =~ s/resync=60s/max_members=512 resync=60s/;
ok($t->reload_nginx(http => $bigger), 'reload with another max_members');
sleep 0.5;

open my $fh, '>', $stop or die;
close $fh;
waitpid($_, 0) for @kids;

my ($total, $failed) = (0, 0);
for my $k (1 .. 4) {
    my $line = $t->read_file("load.$k") // '';
    my ($n, $bad, $detail) = split ' ', $line;
    $total += $n // 0;
    $failed += $bad // 1;
    note("client $k: $line");
}
cmp_ok($total, '>', 200, "load ran ($total requests)");
is($failed, 0, 'no request failed across the reloads');

my $c = count_backends($t, 'http', 30);
is_deeply($c, { b1 => 10, b2 => 10, b3 => 10 },
          'the membership is kept across reloads') or diag explain $c;
like($t->log('nginx'), qr/pool "web" kept 3 members across reload/,
     'the zone is reused on reload');
like($t->log('nginx'), qr/pool "web": 3 members taken over from the previous zone/,
     'a resized zone takes the members over');

$t->done;
