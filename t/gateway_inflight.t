#!/usr/bin/perl
# A member removed while a request to it is in flight, and its slot given
# to a new member that serves meanwhile (max_members=1 leaves no other
# slot): the slow request still answers from the old member and is logged
# with the old member's address ($upstream_addr at the end of the request,
# after the worker has taken the new member's address for the slot), and
# its completion is not counted into the new member (active requests back
# at zero, the new member's requests are its own).  Under ASan this is the
# use-after-free check of the address nginx logs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP qw(decode_json);
use Scaleset::Test;
use Scaleset::Pool;
use POSIX ();

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(a => 'a', b => 'b');

pool_replace($r, 'web', { 'web-a' => addr($t, 'a') });

$t->start_nginx(workers => 1, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    log_format up '$uri $upstream_addr $upstream_status';
    upstream web { scaleset web max_members=1 resync=60s; keepalive 4; }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        access_log %%DIR%%/nginx/up.log up;
        location / {
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Up $upstream_addr always;
        }
        location = /status { access_log off; scaleset_status; }
    }
EOF
$t->wait_for(sub { my ($c, $b) = $t->http_get('http', '/'); $c == 200 && $b eq "a\n" },
             what => 'a serving');

sub member {
    my ($id) = @_;
    my ($code, $body) = $t->http_get('http', '/status');
    return undef unless $code == 200;
    my $pool = decode_json($body)->{pools}{web};
    my ($m) = grep { $_->{id} eq $id } @{ $pool->{members} };
    return $m;
}

# a request to a that takes 10 s: longer than what follows takes on a
# loaded machine
$t->backend('a', delay => 10);
my $out = $t->dir . '/slow.out';
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    require HTTP::Tiny;
    my ($code, $body, $h) = $t->http_get('http', '/slow',
        ua => HTTP::Tiny->new(timeout => 30, keep_alive => 0));
    open my $fh, '>', $out or POSIX::_exit(2);
    chomp $body if defined $body;
    print $fh join("\n", $code, $body // '', $h->{'x-up'} // ''), "\n";
    close $fh;
    POSIX::_exit(0);
}

ok($t->wait_for(sub { my $m = member('web-a'); $m && $m->{active} == 1 },
                what => 'the slow request in flight'),
   'the slow request is in flight to a');

# a goes, b takes its slot (the only one) and serves while the slow
# request waits: at once, not at the next resync (60 s).  The status page
# says when (a request sent before would wait 10 s for a).
pool_replace($r, 'web', { 'web-b' => addr($t, 'b') });
ok($t->wait_for(sub { member('web-b') }, timeout => 6, what => 'b applied'),
   'a member replacing another in a full pool is applied at once');
my ($c, $b) = $t->http_get('http', '/fast');
is("$c $b", "200 b\n", 'and serves');
($c, $b) = $t->http_get('http', '/fast');
is("$c $b", "200 b\n", 'and again');
is(waitpid($pid, POSIX::WNOHANG()), 0,
   'while the request to the removed member is still in flight');

waitpid($pid, 0);
my ($code, $body, $up) = split /\n/, $t->read_file('slow.out') // '';
is($code, 200, 'the slow request answered');
is($body, 'a', 'by the removed member');
is($up, addr($t, 'a'), 'its $upstream_addr is the removed member\'s address');

$t->wait_for(sub { ($t->read_file('nginx/up.log') // '') =~ m{^/slow }m },
             what => 'the slow request logged');
my ($line) = grep { m{^/slow } } split /\n/, $t->read_file('nginx/up.log');
is($line, '/slow ' . addr($t, 'a') . ' 200',
   'the access log has the removed member\'s address');
my @fast = grep { m{^/fast \Q@{[addr($t, 'b')]}\E 200$} }
           split /\n/, $t->read_file('nginx/up.log');
cmp_ok(scalar @fast, '>=', 2,
       'the new member\'s requests are logged with its address');

my $m = member('web-b');
is($m->{active}, 0, 'no request counted active in the new member');
is($m->{requests}, scalar(@fast), 'the new member counts its own requests only');
is($m->{responses}{'2xx'}, scalar(@fast),
   'the slow request\'s response is not counted into the new member');

$t->done;
