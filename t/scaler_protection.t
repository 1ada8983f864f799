#!/usr/bin/perl
# Instance protection under autoscale (issue 16, What to build 4): a real
# Prometheus, a real scaler on the test driver, real Redis.  An idle rule
# scales the pool in to its min while two instances are protected: the
# one protected from scale-in and the one protected from every scale-set
# action stay (the default policy would have taken them first: highest
# ids), the pool stays above its capacity and says so (API, log); taken
# off, the protection no longer holds the instance; an operator's DELETE
# is never blocked.  PUT .../protection and scalesetctl protect, stored in
# PREFIX{POOL}:protection; bad bodies refused.

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
$t->done;
