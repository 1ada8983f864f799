#!/usr/bin/perl
# Membership churn under load: members are replaced hundreds of times
# while clients keep sending requests; no request fails, no counter goes
# wrong (active requests return to zero), nothing is logged above error.
# A second pool is kept full (max_members = members), so every new member
# takes the slot of the one it replaces while requests to that one may
# still be in flight: the slot is rewritten under requests that read it
# without a lock.

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
$t->backend($_, delay => 0.005) for qw(b1 b2 b3);

pool_set($r, 'web', { 'web-0' => addr($t, 'b1') });
pool_set($r, 'full', { 'full-0' => addr($t, 'b2') });

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web max_members=8 balance=least_conn resync=200ms; }
    upstream full { scaleset full max_members=4 resync=200ms; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
        location /full { proxy_pass http://full; }
        location = /status { scaleset_status; }
    }
EOF
$t->wait_for(sub { my ($c) = $t->http_get('http', '/'); $c == 200 },
             what => 'served');
$t->wait_for(sub { my ($c) = $t->http_get('http', '/full'); $c == 200 },
             what => 'full served');

my $stop = $t->dir . '/stop';
my @kids;
for my $k (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($n, $bad) = (0, 0);
        my %seen;
        until (-e $stop) {
            my ($code) = $t->http_get('http', $n % 2 ? '/full' : '/');
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

# 300 changes: each adds a member and removes the oldest of five, cycling
# over 8 slots, weights and backends changing as it goes
my @b = qw(b1 b2 b3);
my $t0 = time;
for my $i (1 .. 300) {
    my %set = ("web-$i" => addr($t, $b[$i % 3]) . ' weight=' . (1 + $i % 4));
    my @del = $i > 3 ? ("web-" . ($i - 4)) : ('web-0');
    Scaleset::Pool::_run($r, 'web', \%set, \@del, 'add');
    # full: four members, one replaced per change in the same transaction
    Scaleset::Pool::_run($r, 'full',
        { "full-$i" => addr($t, $b[($i + 1) % 3]) },
        $i >= 4 ? ["full-" . ($i - 4)] : [], 'add');
    sleep 0.01;
}
my $dt = time - $t0;

open my $fh, '>', $stop or die;
close $fh;
waitpid($_, 0) for @kids;

my ($total, $failed) = (0, 0);
for my $k (1 .. 4) {
    my $line = $t->read_file("load.$k") // '';
    my ($n, $bad) = split ' ', $line;
    $total += $n // 0;
    $failed += $bad // 1;
    note("client $k: $line");
}
cmp_ok($total, '>', 300, sprintf("load ran (%d requests during 300 changes "
                                 . "in %.1fs)", $total, $dt));
is($failed, 0, 'no request failed while members were replaced');

my @applied = $t->log('nginx') =~ /pool "web" epoch \d+ from redis/g;
cmp_ok(scalar @applied, '>=', 30, scalar(@applied) . ' changes applied');

# the last four members serve, and no request is left counted as active
# in any slot (free_peer never counted into a reused slot)
sleep 0.3;
my $c = count_backends($t, 'http', 30);
is_deeply([sort keys %$c], [qw(b1 b2 b3)], 'the final members serve')
    or diag explain $c;
$c = count_backends($t, 'http', 30, '/full');
is_deeply([sort keys %$c], [qw(b1 b2 b3)], 'the full pool\'s final members serve')
    or diag explain $c;

my ($code, $status) = $t->http_get('http', '/status');
is($code, 200, 'status');
my @active = $status =~ /"active":(\d+)/g;
is(scalar @active, 8, 'four members of each pool in the status') or diag $status;
is_deeply(\@active, [(0) x 8], 'active requests back at zero after the churn')
    or diag $status;

$t->done;
