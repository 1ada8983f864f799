#!/usr/bin/perl
# Records that do not parse are skipped and logged once with the id and the
# reason; the good members next to them keep serving.

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
$t->start_backends(b1 => 'b1', b2 => 'b2');

pool_set($r, 'web', {
    'web-1'   => addr($t, 'b1'),
    'web-bad' => 'not-an-address:80',
    'web-w0'  => addr($t, 'b2') . ' weight=0',
    'web-unk' => addr($t, 'b2') . ' colour=blue',
    'bad id!' => addr($t, 'b2'),
});

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web { scaleset web resync=300ms; }
    upstream small { scaleset small max_members=2 resync=300ms; }
    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        location / { proxy_pass http://web; }
        location /small { proxy_pass http://small; }
    }
EOF

$t->wait_for(sub { my ($c) = $t->http_get('http', '/'); $c == 200 },
             what => 'served');

my $c = count_backends($t, 'http', 20);
is_deeply($c, { b1 => 20 }, 'the good member serves, the bad ones are skipped')
    or diag explain $c;

# several resyncs later, and after another change, each is logged once
sleep 1.2;
pool_set($r, 'web', { 'web-2' => addr($t, 'b2') });
$t->wait_for(sub { my $c = count_backends($t, 'http', 4); $c->{b2} },
             what => 'web-2 added');
$c = count_backends($t, 'http', 20);
is_deeply($c, { b1 => 10, b2 => 10 }, 'a good member added next to bad ones')
    or diag explain $c;

my $log = $t->log('nginx');
for my $id ('web-bad', 'web-w0', 'web-unk', 'bad id!') {
    my @n = $log =~ /member "\Q$id\E" skipped: ([^\n]*)/g;
    is(scalar @n, 1, "\"$id\" logged once") or diag join "\n", @n;
}
like($log, qr/member "web-w0" skipped: .*weight/, 'the reason names the field');

# a bad record replacing a good one: the other members stay
pool_set($r, 'web', { 'web-2' => 'garbage' });
sleep 0.3;
$c = count_backends($t, 'http', 10);
is_deeply($c, { b1 => 10 }, 'a member turned bad is dropped, the rest stays')
    or diag explain $c;

# more members than slots: the first ones by id serve, the rest is skipped
pool_set($r, 'small', { 'small-1' => addr($t, 'b1'), 'small-2' => addr($t, 'b2'),
                        'small-3' => addr($t, 'b2') });
$t->wait_for(sub { my $c = count_backends($t, 'http', 2, '/small');
                   $c->{b1} && $c->{b2} }, what => 'small pool');
$c = count_backends($t, 'http', 20, '/small');
is_deeply($c, { b1 => 10, b2 => 10 }, 'a full pool serves the members it holds')
    or diag explain $c;
sleep 1;
my @full = $t->log('nginx') =~ /pool "small" is full \(max_members=2\): member "small-3" skipped/g;
is(scalar @full, 1, 'a full pool is logged once');

$t->done;
