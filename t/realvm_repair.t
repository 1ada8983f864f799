#!/usr/bin/perl
# Instance care on real VMs (issue 16): libvirtd started by the test, the
# scaler on conf-examples/scaler-qemu.yaml (pool rvm, repair.grace 3 s),
# the tiny guest (tools/guest-image.sh), Redis and nginx with the module.
#   restart  the guest's own service turns unhealthy from inside (its
#            switch: GET /cgi-bin/health?fail removes /healthz): with
#            repair.action restart the scaler power-cycles the domain, same id,
#            and the guest serves again through the gateway;
#   replace  (reloaded with repair.action replace) the same from inside:
#            drained, then virDomainShutdown (ACPI): the guest's power
#            button watcher powers it off well before
#            termination.shutdown_timeout (60 s) and it is deleted as
#            powered off, not destroyed; a new id serves in its place.
#            (The destroy at shutdown_timeout of a guest that stays on is
#            the planner's, table-tested in t/unit/test_plan.c.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;

my $why = Scaleset::Libvirtd->skip_reason;
plan skip_all => $why if $why;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvm-');
$lv->purge;
my $tpl = Scaleset::RealVM::template($t, $lv);
my $lo = Scaleset::RealVM::port_range(8);
ok($lo, "port range $lo-" . ($lo + 7));

$t->start_redis;
my $redis = $t->redis;
Scaleset::RealVM::start_gateway($t, 'rvm');

sub yaml {
    my ($action) = @_;
    return Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl,
        ports => $lo, drain_timeout => '10s',
        # health.grace: a guest that boots (a new one, a power cycle) has
        # a minute to serve before its repair counts as failed
        more => { qr/health: \{ uri: \/healthz, timeout: 1s \}/
                      => 'health: { uri: /healthz, timeout: 1s, grace: 60s }',
                  qr/scale_in_policy: default/ => "scale_in_policy: default\n"
                  . "    repair: { grace: 3s, action: $action }\n"
                  . "    termination: { shutdown_timeout: 60s }" });
}
my $conf = $t->write_file('scaler.yaml', yaml('restart'));
$t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
                       cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);
my $log = sub { $t->log('scaler') // '' };
sub members { return { $redis->hgetall('scaleset:{rvm}:members') } }

# the id the gateway serves (its page names it), or ''
sub served {
    my ($c, $b) = $t->http_get('http', '/');
    return ($c // 0) == 200 && ($b // '') =~ m{<h1>(rvm-\d+)</h1>} ? $1 : '';
}
sub serves {
    my ($id, $timeout) = @_;
    return $t->wait_for(sub { served() eq $id }, timeout => $timeout,
                        interval => 0.2, what => "$id serving");
}
my ($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                      body => '{"capacity":1}');
is($code, 200, 'capacity 1');
ok(serves('rvm-000001', 150), 'rvm-000001 serves through the gateway');

# --- restart --------------------------------------------------------------
ok(Scaleset::RealVM::guest_switch($t, 'rvm', 'rvm-000001', 'fail'),
   'its service turned unhealthy from inside');
ok($t->wait_for(sub { $log->() =~ /id=rvm-000001 restarted \(down on every gateway for \d+ ms \(repair\.grace 3000 ms\)[^)]*\)+ rule=repair/ },
                timeout => 30, what => 'restarted'),
   'down past repair.grace: restarted (a power cycle)')
    or diag($log->());
ok($t->wait_for(sub { $log->() =~ /id=rvm-000001 repaired: up on every gateway/ },
                timeout => 150, what => 'repaired'),
   'up again on the gateway after its reset: repaired');
ok(serves('rvm-000001', 30), 'the same id serves again through the gateway');
unlike($log->(), qr/id=rvm-000002 created/, 'no new instance');

# --- replace, with the ACPI shutdown --------------------------------------
$t->write_file('scaler.yaml', yaml('replace'));
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $log->() =~ /configuration reloaded/ }, timeout => 10),
   'reloaded with repair.action replace');
ok(Scaleset::RealVM::guest_switch($t, 'rvm', 'rvm-000001', 'fail'),
   'unhealthy from inside again');
ok($t->wait_for(sub { $log->() =~ /id=rvm-000001 stopping: ACPI shutdown sent/ },
                timeout => 60, what => 'ACPI shutdown'),
   'replaced: drained, then the ACPI shutdown') or diag($log->());
my $t_stop = time;
ok($t->wait_for(sub { $log->() =~ /id=rvm-000001 deleted \((powered off|shutdown_timeout: destroyed)\) rule=drain/ },
                timeout => 90, what => 'deleted'),
   'then deleted');
my $took = time - $t_stop;
like($log->(), qr/id=rvm-000001 deleted \(powered off\) rule=drain/,
     'the guest powered itself off on the ACPI shutdown: deleted as powered off');
unlike($log->(), qr/id=rvm-000001 deleted \(shutdown_timeout/,
       'not destroyed at shutdown_timeout');
cmp_ok($took, '<', 60, sprintf('off %.1f s after the shutdown was sent, '
                               . 'before shutdown_timeout (60 s)', $took));
ok(serves('rvm-000002', 150), 'its replacement rvm-000002 serves through the gateway');
like($log->(), qr/id=rvm-000002 created in zone z1 .*\(replacing rvm-000001\) rule=repair/,
     'a new id in its place');

# --- scale to 0 -----------------------------------------------------------
($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                   body => '{"capacity":0}');
is($code, 200, 'capacity 0');
ok($t->wait_for(sub { !keys %{ members() }
                      && !grep { /^rvm-/ } $lv->domains }, timeout => 90,
                what => 'nothing left'), 'no member, no domain left');

done_testing();
