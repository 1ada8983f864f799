#!/usr/bin/perl
# scaler: each instance carries its own model in its domain's tag
# (version, template and base image digests, template name, host,
# creation time).  Its member record says its own version, never the
# pool's: an instance of version 1 drained after the pool moved to
# version 2 stays version=1 (it was relabelled 2).  The API and
# scalesetctl show the model, whether it is the pool's latest, the age
# and each gateway's report; health.grace counts from the tag's creation
# time, so it survives a restart (adopted domains, test:///FILE.xml).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use JSON::PP;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $r = $t->redis;
my $dir = $t->dir;

# a node with two adopted, never ready domains: one created an hour ago
# (its tag says so), one with an older tag that has no creation time
my $old = int(time * 1000) - 3600_000;
sub dom {
    my ($name, $md) = @_;
    return "<domain type='test'><name>$name</name><metadata>"
         . "<scaleset:instance xmlns:scaleset='https://scaleset.dev/xmlns/"
         . "instance/1' $md/></metadata><memory>65536</memory>"
         . "<os><type>hvm</type></os></domain>\n";
}
$t->write_file('node.xml', "<node>\n"
    . dom('old-000001', "pool='old' id='old-000001' zone='z1' version='1' "
          . "address='127.0.4.1:9' created='$old'")
    . dom('old-000002', "pool='old' id='old-000002' zone='z1' version='1' "
          . "address='127.0.4.2:9'")
    . "</node>\n");

my $s = Scaleset::Scaler->new($t, pools => [
    # manual: a new version marks instances outdated, nothing replaces
    # them here (t/scaler_upgrade*.t)
    { name => 'web', capacity => [0, 5, 2], cidr => '127.0.6.0/24',
      drain_timeout => '60s', extra => "    upgrade: { mode: manual }\n" },
    { name => 'old', capacity => [0, 5, 2], cidr => '127.0.4.0/24',
      port => 9, readiness => 'tcp',
      zones => [['z1', "test://$dir/node.xml"]],
      extra => "    health: { uri: /healthz, timeout: 200ms, grace: 30s }\n" },
]);
my $t0 = time;
$s->start;
ok($t->wait_for(sub { keys %{ $s->members('web') } == 2 }, what => '2'),
   'web: 2 instances of version 1');
like($_, qr/ version=1$/, 'registered with version=1')
    for values %{ $s->members('web') };

# health.grace from the tag's creation time: the hour-old one is
# repaired at once, the one whose tag has no time is not (its grace
# counts from when this scaler first saw it)
ok($t->wait_for(sub { $t->log('scaler') =~ /id=old-000001 deleted \(not ready .*\) rule=repair/ },
                timeout => 10, what => 'old-000001 repaired'),
   'an adopted instance created an hour ago and never ready is repaired '
   . 'in the first passes');
cmp_ok(time - $t0, '<', 15, 'long before health.grace (30 s) since the start');
unlike($t->log('scaler'), qr/id=old-000002 deleted/,
       'one whose tag has no creation time gets its grace from now');

# the pool moves to version 2 (SIGHUP); two v2 instances join, then the
# pool shrinks to 1 (scale-in takes the outdated ones first, then the
# highest id: 1, 2, 4 drain, 3 stays): the drained ones keep their own
# version
$s->{opt}{pools}[0]{version} = 2;
$s->write_config;
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $t->log('scaler') =~ /configuration reloaded/ }),
   'reloaded with version 2');
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 4 });
ok($t->wait_for(sub { my $m = $s->members('web');
                      keys %$m == 4 && $m->{'web-000004'} }, what => '4'),
   'scaled out to 4');
my $m = $s->members('web');
like($m->{'web-000003'}, qr/ version=2$/, 'a new instance has version 2');
like($m->{'web-000001'}, qr/ version=1$/, 'the old ones keep version 1');

# the gateways hold connections on every one, so that drains wait
my $now = int(time * 1000);
$r->hset('scaleset:{web}:health:gw1', $_, "up conns=2 fails=0 checked=$now")
    for keys %$m;
$r->hset('scaleset:{web}:health:gw2', 'web-000001',
         "down conns=0 fails=3 checked=$now reason=timeout");
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
ok($t->wait_for(sub { my $m = $s->members('web');
                      3 == grep { / drain$/ } values %$m }, what => 'drains'),
   'three drain');
$m = $s->members('web');
like($m->{'web-000002'}, qr/ version=1 drain$/,
     'a drained version 1 instance stays version=1 (not the pool\'s 2)');
like($m->{'web-000004'}, qr/ version=2 drain$/, 'a version 2 one says 2');

# the API: per instance its model, whether it is the latest, its age
my (undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{version}, '2', 'the pool is on version 2');
like($p->{digest}, qr/^[0-9a-f]{64}$/, 'with its template digest');
my %li = map { $_->{id} => $_ } @{ $p->{instances_list} };
is($li{'web-000001'}{version}, '1', 'instance version from its tag');
ok(!$li{'web-000001'}{latest_model}, 'version 1: not the latest model');
ok($li{'web-000003'}{latest_model}, 'version 2: the latest model');
is($p->{latest_model_instances}, 2, 'two instances on the latest model');
cmp_ok(abs($li{'web-000001'}{created} / 1000 - $t0), '<', 20,
       'created: UNIX ms from the tag');

my (undef, $q) = $s->api('GET', '/v1/pools/web/instances');
is($q->{pool}, 'web', 'GET /v1/pools/web/instances');
my %in = map { $_->{id} => $_ } @{ $q->{instances} };
is_deeply([sort keys %in], [map { "web-00000$_" } 1 .. 4], 'every instance');
my $i1 = $in{'web-000001'};
is($i1->{host}, 'test:///default', 'host: the zone\'s URI');
is($i1->{template}, '', 'template: the pool\'s one');
is($i1->{weight}, 1, 'weight');
is($i1->{state}, 'draining', 'state: an outdated one drained first');
is($in{'web-000003'}{state}, 'running',
   'the one on the latest model stays');
is($in{'web-000002'}{state}, 'draining', 'a drained one');
is_deeply($i1->{health}{gw1}, { state => 'up', conns => 2, fails => 0,
                                checked => $now, at => 0 },
          'gw1\'s report (at 0: a record without at=)');
is($i1->{health}{gw2}{state}, 'down', 'gw2\'s report');
is_deeply($in{'web-000003'}{health}, { gw1 => { state => 'up', conns => 2,
          fails => 0, checked => $now, at => 0 } },
          'one gateway reports on 3');

# scalesetctl instances
my $ctl = sub {
    my $out = `SCALESET_API=http://127.0.0.1:${\ $t->port('api')} @{[ $t->bin('scalesetctl') ]} @_ 2>&1`;
    return ($? >> 8, $out);
};
my ($rc, $out) = $ctl->('instances', 'web');
is($rc, 0, 'scalesetctl instances web');
like($out, qr/^ID\s+ZONE\s+STATE\s+VERSION\s+LATEST\s+AGE\s+WEIGHT\s+TEMPLATE\s+ORIGIN\s+PROTECT\s+HEALTH/m,
     'a table');
like($out, qr/^web-000001\s+z1\s+draining\s+1\s+no\s+\d+s\s+1\s+-\s+scaled\s+-\s+gw1:up\/2 gw2:down\/0$/m,
     'a row per instance with its model, age and reports');
like($out, qr/^web-000003\s+z1\s+\S+\s+2\s+yes\s/m, 'the latest model: yes');
($rc, $out) = $ctl->('--json', 'instances', 'web');
my $j = eval { decode_json($out) };
is(scalar @{ $j->{instances} // [] }, 4, '--json: the API\'s object');
($rc, $out) = $ctl->('show', 'web');
like($out, qr/version 2: 2 of 4 instances on the latest model/,
     'show counts those on the latest model');
($rc, $out) = $ctl->('instances', 'nope');
is($rc, 1, 'an unknown pool: exit 1');

$t->done;
