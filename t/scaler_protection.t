#!/usr/bin/perl
# Instance protection and standby under autoscale (issue 16, What to
# build 4 and 5): a real
# Prometheus, a real scaler on the test driver, real Redis.  An idle rule
# scales the pool in to its min while two instances are protected: the
# one protected from scale-in and the one protected from every scale-set
# action stay (the default policy would have taken them first: highest
# ids), the pool stays above its capacity and says so (API, log); taken
# off, the protection no longer holds the instance; an operator's DELETE
# is never blocked.  PUT .../protection and scalesetctl protect, stored in
# PREFIX{POOL}:protection; bad bodies refused.  Standby: drained and kept
# running, out of the capacity (replaced; with --decrement the capacity
# goes down instead, and back up when it is active again), never scaled
# in, deleted only when asked.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(time sleep);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis prometheus scaler)]);
$t->start_redis;
my $r = $t->redis;
sub set_load { $t->set_metrics("scaleset_test_load $_[0]\n") }
my $mport = $t->start_metrics(text => "scaleset_test_load 50\n");
my $prom = $t->start_prometheus(scrape => ["127.0.0.1:$mport"],
                                interval => '500ms');
my $s = Scaleset::Scaler->new($t, interval => '250ms',
    top_extra => "prometheus: { url: \"http://127.0.0.1:$prom->{port}\","
               . " timeout: 1s }\n",
    pools => [ { name => 'web', capacity => [1, 6, 4], extra => <<'EOF' } ]);
    rules:
      - { name: idle, query: 'max(scaleset_test_load)', operator: "<",
          threshold: 10, for: 1s, action: { change: -1 }, cooldown: 1s,
          per_instance: false }
EOF
$s->start;
ok($t->wait_for(sub { keys %{ $s->members('web') } == 4 }, timeout => 10,
                what => '4 members'), 'four instances');

my $ctl = sub {
    my $out = `SCALESET_API=http://127.0.0.1:${\ $t->port('api')} @{[ $t->bin('scalesetctl') ]} @_ 2>&1`;
    return ($? >> 8, $out);
};
my ($rc, $out) = $ctl->('protect', 'web', 'web-000004');
is($rc, 0, 'scalesetctl protect web web-000004 (from scale-in)');
is($out, "web: web-000004 protected: scale_in\n", 'says so');
($rc, $out) = $ctl->('protect', 'web', 'web-000003', '--all');
is($rc, 0, 'scalesetctl protect web web-000003 --all');
is($r->hget('scaleset:{web}:protection', 'web-000004'), 'scale_in',
   'stored in PREFIX{POOL}:protection: scale_in');
is($r->hget('scaleset:{web}:protection', 'web-000003'), 'all',
   'and all');

# the API refuses what is not a protection
for my $bad ('{"scale_in":1}', '{"scale_in":true,"x":true}', '[]', 'nope',
             '{"scale_in":true,"scale_in":false}') {
    my ($code, $b) = $s->api('PUT', '/v1/pools/web/instances/web-000002'
                                    . '/protection', $bad);
    is($code, 400, "protection body $bad: 400") or diag explain $b;
}
my ($code) = $s->api('PUT', '/v1/pools/web/instances/web-999999/protection',
                     '{"scale_in":true}');
is($code, 404, 'an unknown instance: 404');
ok($t->wait_for(sub {
    my (undef, $j) = $s->api('GET', '/v1/pools/web/instances');
    my %p = map { $_->{id} => $_->{protection} } @{ $j->{instances} // [] };
    ($p{'web-000004'} // '') eq 'scale_in' && ($p{'web-000003'} // '') eq 'all'
        && ($p{'web-000001'} // '') eq 'none';
}, timeout => 5, what => 'protection shown'), 'shown per instance');
($rc, $out) = $ctl->('instances', 'web');
like($out, qr/^web-000003\s.*\sall\s+-$/m, 'and by scalesetctl instances');

# idle: the rule scales in to min 1; the protected two stay
set_load(1);
ok($t->wait_for(sub {
    my (undef, $p) = $s->api('GET', '/v1/pools/web');
    $p->{capacity} == 1 && $p->{protected_above_capacity} == 1
}, timeout => 20, what => 'capacity 1, one above it'),
   'scaled in to 1; the pool says one stays above its capacity');
is_deeply([sort keys %{ $s->members('web') }], [qw(web-000003 web-000004)],
          'the unprotected two went, the protected two stay');
like($t->log('scaler'), qr/pool=web 1 instances above the capacity 1 stay: every candidate for scale-in is protected/,
     'logged');
unlike($t->log('scaler'), qr/id=web-00000[34] draining/,
       'neither protected one was drained');

# protection off: scale-in takes it
($rc, $out) = $ctl->('protect', 'web', 'web-000004', '--off');
is($rc, 0, 'scalesetctl protect --off');
ok(!defined $r->hget('scaleset:{web}:protection', 'web-000004'),
   'its field removed');
ok($t->wait_for(sub { !exists $s->members('web')->{'web-000004'} },
                timeout => 10, what => 'web-000004 scaled in'),
   'unprotected, it is scaled in');
ok($t->wait_for(sub { (($s->api('GET', '/v1/pools/web'))[1]
                       ->{protected_above_capacity} // -1) == 0 },
                timeout => 5, what => '0 above'), 'none above capacity now');

# an operator's delete is never blocked; its protection goes with it
set_load(50);
($code) = $s->api('DELETE', '/v1/pools/web/instances/web-000003');
is($code, 202, 'DELETE of an instance protected from everything');
ok($t->wait_for(sub { !exists $s->members('web')->{'web-000003'} },
                timeout => 10, what => 'web-000003 deleted'),
   'it is drained and deleted');
ok(!$r->hexists('scaleset:{web}:protection', 'web-000003'),
   'its protection goes with its member');

# --- standby ---------------------------------------------------------------
sub pool { my (undef, $p) = $s->api('GET', '/v1/pools/web'); $p // {} }
sub state_of {
    my ($id) = @_;
    my ($i) = grep { $_->{id} eq $id } @{ pool()->{instances_list} // [] };
    return $i ? $i->{state} : 'gone';
}
sub in_service { grep { $_ !~ /\bdrain\b/ } values %{ $s->members('web') } }
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
ok($t->wait_for(sub { in_service() == 3 }, timeout => 10,
                what => '3 in service'), 'capacity 3: three in service');
my ($a, $b) = (sort keys %{ $s->members('web') })[-2, -1];
my $seq = $r->get('scaleset:{web}:seq');
($rc, $out) = $ctl->('standby', 'web', $a, '--decrement');
is($rc, 0, "scalesetctl standby web $a --decrement");
is(pool()->{capacity}, 2, 'the capacity one lower');
ok($t->wait_for(sub { state_of($a) eq 'standby' }, timeout => 5,
                what => 'standby'), "$a is on standby");
like($s->members('web')->{$a}, qr/\bdrain\b/, 'drained from the gateways');
like($r->hget('scaleset:{web}:standby', $a), qr/^\d{13} decrement$/,
     'recorded in PREFIX{POOL}:standby');
sleep 1;
is(state_of($a), 'standby', 'kept running, not deleted');
is($r->get('scaleset:{web}:seq'), $seq, 'not replaced');
($code) = $s->api('POST', "/v1/pools/web/instances/$a/standby");
is($code, 409, 'standby again: 409');
($rc, $out) = $ctl->('active', 'web', $a);
is($rc, 0, "scalesetctl active web $a");
is(pool()->{capacity}, 3, 'the capacity back up');
ok($t->wait_for(sub { ($s->members('web')->{$a} // 'drain') !~ /\bdrain\b/ },
                timeout => 5, what => 'in service'), "$a back in service");
ok(!$r->hexists('scaleset:{web}:standby', $a), 'its standby record gone');
($code) = $s->api('POST', "/v1/pools/web/instances/$a/active");
is($code, 409, 'active when in service: 409');

($rc, $out) = $ctl->('standby', 'web', $b);
is($rc, 0, "scalesetctl standby web $b");
ok($t->wait_for(sub { state_of($b) eq 'standby' && in_service() == 3 },
                timeout => 10, what => 'replaced'),
   "$b on standby, replaced: 3 in service again");
set_load(1);
ok($t->wait_for(sub { pool()->{capacity} == 1 && in_service() == 1 },
                timeout => 20, what => 'scaled in'), 'idle: scaled in to 1');
is(state_of($b), 'standby', 'the instance on standby is never scaled in');
unlike($t->log('scaler'), qr/id=\Q$b\E (deleted|draining \(capacity)/,
       'neither drained again nor deleted');
($code) = $s->api('DELETE', "/v1/pools/web/instances/$b");
is($code, 202, 'DELETE of the instance on standby');
ok($t->wait_for(sub { state_of($b) eq 'gone' }, timeout => 10,
                what => 'deleted'), 'deleted when asked');
ok(!$r->hexists('scaleset:{web}:standby', $b), 'its record with it');
$t->done;
