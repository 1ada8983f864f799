#!/usr/bin/perl
# scaler: the desired capacity has one owner, the scaler's loop; Redis's
# PREFIX{POOL}:capacity is its persistence.  It is read when the scaler
# starts (and for a pool a reload adds), clamped to the bounds in force,
# and refused (the default used) when it is no capacity; a refused or
# clamped value is logged and counted.  It is never read again behind the
# loop's back (issue 13: SET capacity 40 in Redis for a pool with max 3
# made the scaler create 40 instances, SET -5 deleted every one).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $r = $t->redis;
my $key = 'scaleset:{web}:capacity';
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    capacity => [0, 3, 1] } ]);

sub capacity { my (undef, $p) = $s->api('GET', '/v1/pools/web');
               return ref $p ? $p->{capacity} : undef }
sub errors {
    my ($kind) = @_;
    my (undef, $m) = $t->http_get('api', '/metrics');
    return $m =~ /^scaleset_scaler_errors_total\{pool="web",kind="$kind"\} (\d+)$/m
        ? $1 : undef;
}
sub members { scalar keys %{ $s->members('web') } }
sub log_since { substr($t->log('scaler') // '', $_[0]) }

# stored above max: clamped at start
$r->set($key, 40);
$s->start;
is(capacity(), 3, 'a stored capacity above max is clamped to it at start');
ok($t->wait_for(sub { members() == 3 }, what => '3 members'), '3 members');
like($t->log('scaler'), qr/pool=web .*stored capacity "40" .*clamped to 3/,
     'the clamp is logged');
is(errors('redis_data'), 1, 'and counted');

# while it runs, the key is its persistence only: a value written behind
# the scaler's back is not read (each DELETE makes a pass replace one)
for my $case ([40, 'web-000001', 'web-000004'],
              [-5, 'web-000002', 'web-000005']) {
    my ($v, $gone, $new) = @$case;
    $r->set($key, $v);
    my ($code) = $s->api('DELETE', "/v1/pools/web/instances/$gone");
    is($code, 202, "SET $v in Redis, then DELETE $gone");
    ok($t->wait_for(sub { my $m = $s->members('web');
                          $m->{$new} && !$m->{$gone} && keys %$m == 3 },
                    what => "$new replacing $gone"),
       "$gone replaced by $new: a pass ran after the SET");
    is(members(), 3, "SET $v behind the scaler's back changes nothing");
    is(capacity(), 3, 'the capacity is still 3');
    is($r->get('scaleset:{web}:seq'), substr($new, -1),
       'no other instance was ever created');
}

# restarts with a stored value that is no capacity: refused, the default
for my $bad ('-5', 'abc', '99999999999999999999', '2.5', ' 2', '') {
    $t->stop('scaler');
    $r->set($key, $bad);
    my $off = length($t->log('scaler') // '');
    $s->start;
    is(capacity(), 1, "stored \"$bad\" refused at start: the default 1");
    like(log_since($off), qr/pool=web .*stored capacity "\Q$bad\E" refused/,
         'the refusal is logged');
    is(errors('redis_data'), 1, 'and counted');
}

# a valid one is taken as it is
$t->stop('scaler');
$r->set($key, 2);
$s->start;
is(capacity(), 2, 'a valid stored capacity is the one in force at start');
is(errors('redis_data'), 0, 'nothing counted');

# a pool added by a reload reads its stored capacity the same way
$r->set('scaleset:{api}:capacity', '12');
$s->{opt}{pools} = [ { name => 'web', capacity => [0, 3, 1] },
                     { name => 'api', capacity => [1, 2, 1],
                       cidr => '127.0.2.0/24' } ];
$s->write_config;
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { my (undef, $p) = $s->api('GET', '/v1/pools/api');
                      ref $p && ($p->{name} // '') eq 'api' }, what => 'pool api'),
   'reload adds pool api');
my (undef, $p) = $s->api('GET', '/v1/pools/api');
is($p->{capacity}, 2, 'its stored 12 is clamped to its max 2');
is(capacity(), 2, 'web keeps its capacity across the reload');

$t->done;
