#!/usr/bin/perl
# scaler: health.grace.  An instance that is not ready (its /healthz
# answers 500) within health.grace is deleted and replaced by a new one;
# one that becomes ready within the grace period is kept; the repairs are
# logged and counted in scaleset_scaler_repairs_total.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $gport = $t->port('guest');
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    readiness => 'tcp', cidr => '127.0.8.0/24', port => $gport,
    capacity => [0, 5, 0],
    extra => "    health: { uri: /healthz, timeout: 300ms, grace: 3s }\n" } ]);
$s->start;
my $ctl = $t->dir . '/guestctl';
mkdir $ctl;
$t->write_file("$ctl/web-000002", "fail\n");     # never ready
$t->write_file("$ctl/web-000003", "fail\n");     # ready after 1 s
$s->guestsim($ctl);

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'capacity 3');
my $t0 = time;
$t->wait_for(sub { exists $s->members('web')->{'web-000001'} }, timeout => 10,
             what => 'web-000001 registered');
select undef, undef, undef, 1;
unlink "$ctl/web-000003";
ok($t->wait_for(sub { exists $s->members('web')->{'web-000003'} },
                timeout => 10, what => 'web-000003 registered'),
   'an instance ready within the grace period is registered');

ok($t->wait_for(sub { $t->log('scaler') =~ /id=web-000002 deleted \(not ready \(status 500\) within health\.grace .*\) rule=repair/ },
                timeout => 10, what => 'web-000002 repaired'),
   'one not ready within health.grace is deleted');
cmp_ok(time - $t0, '>=', 3, 'not before the grace period is over');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
                what => '3 members'), 'and replaced: 3 members again');
is_deeply([sort keys %{ $s->members('web') }],
          [qw(web-000001 web-000003 web-000004)],
          'by a new instance (new id); the others kept');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
ok(!grep({ $_->{id} eq 'web-000002' } @{ $p->{instances_list} }),
   'the unready one is gone from the pool');
unlike($t->log('scaler'), qr/id=web-00000[134] deleted/,
       'no other instance was repaired');
my (undef, $metrics) = $t->http_get('api', '/metrics');
like($metrics, qr/^scaleset_scaler_repairs_total\{pool="web"\} 1$/m,
     'counted in scaleset_scaler_repairs_total');

$t->done;
