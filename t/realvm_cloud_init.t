#!/usr/bin/perl
# Real VMs (qemu TCG through a libvirtd the test starts) bootstrapped by
# cloud-init's NoCloud seed: the pool's template is
# conf-examples/qemu-domain.xml with a virtio-scsi cdrom on {{seed}}, its
# cloud_init.user_data a #! script that writes the page naming {{name}}
# and the template's {{version}} (a value from the config).  The scaler
# uploads each instance's seed into the storage pool
# (virStorageVolUpload), the tiny guest mounts its cidata volume at boot,
# takes instance-id / local-hostname from meta-data and runs the script:
# 2 instances serve that page through the gateway.  Then an operator's
# domain of the same host is adopted by API: registered once it serves,
# it survives a scaler restart (its tag is libvirt's), is never scaled
# in, and goes only when removed by API.  Scale to 0: no seed left.
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
my $tpl = Scaleset::RealVM::template_with_seed($t, $lv);
my $lo = Scaleset::RealVM::port_range(8);
ok($lo, "port range $lo-" . ($lo + 7));
$t->start_redis;
my $redis = $t->redis;
Scaleset::RealVM::start_gateway($t, 'rvm');

my $ud = $t->write_file('user-data', <<'EOF');
#!/bin/sh
# cloud-init user-data of pool {{pool}}: runs once at first boot
printf '<!doctype html><h1>%s</h1><p>bootstrapped %s version %s zone %s</p>\n' \
    '{{name}}' "$(hostname)" '{{version}}' '{{zone}}' > /www/index.html
EOF
chmod 0644, $ud;
my $conf = $t->write_file('scaler.yaml',
    Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl, ports => $lo,
        more => { qr/^      version: 1$/m => "      version: 7\n"
                  . "      cloud_init: { user_data: $ud }",
                  # a removed guest is asked to power off (ACPI), which
                  # the tiny guest ignores: destroyed 2 s later, not 30
                  qr/^    scale_in_policy: default$/m
                  => "    scale_in_policy: default\n"
                  . "    termination: { shutdown_timeout: 2s }" }));
like($t->read_file($conf), qr/cloud_init: \{ user_data: /, 'cloud_init in the config');
sub start_scaler {
    $t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
              cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);
}
start_scaler();

# --- two instances from the seed ---------------------------------------------
my ($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                      body => '{"capacity":2}');
is($code, 200, 'capacity 2');
my %page;
ok($t->wait_for(sub {
    my ($c, $b) = $t->http_get('http', '/');
    if (($c // 0) == 200 && ($b // '') =~ m{<h1>(rvm-\d+)</h1><p>bootstrapped (.*)</p>}) {
        $page{$1} = $2;
    }
    keys %page >= 2;
}, timeout => 150, interval => 0.1, what => '2 bootstrapped pages'),
   '2 instances serve the page their user-data wrote, through the gateway')
    or diag_state();
for my $id (sort keys %page) {
    is($page{$id}, "$id version 7 zone z1",
       "$id: its name, hostname from meta-data, the config's version");
}
my @ids = sort keys %page;
my @seeds = sort grep { /\.seed\.iso$/ } $lv->volumes;
is_deeply(\@seeds, [map { "$_.seed.iso" } @ids],
          'a seed volume each in the storage pool');
for my $id (@ids) {
    my ($addr) = split / /, members()->{$id};
    my ($c, $b) = $t->http_get((split /:/, $addr)[1], '/instance-id');
    is($b, "$id\n", "$id: instance-id from its seed's meta-data");
    like($t->read_file($lv->log_dir . "/$id.console.log"),
         qr/scaleset-guest: user-data exited 0/, "$id: user-data ran");
}
like($t->log('scaler'), qr/created in zone z1/, 'created');
unlike($t->log('scaler'), qr/create failed/, 'no creation failed');

# --- an operator's domain adopted ----------------------------------------------
# rvm-shop: the same guest, made by hand (its own overlay, no seed), on
# the last port of the range
my $sport = $lo + 7;
my $xml = $t->read_file($tpl);
$xml =~ s/\Q$Scaleset::RealVM::SEED_CDROM\E//;
my $ovl = $lv->overlay('rvm-shop');
my %v = (name => 'rvm-shop', uuid => '7a4c8f9e-7b0d-4a51-9e7e-3c1d5a6b2f10',
         address => '127.0.0.1', port => $sport, volume => $ovl,
         mac => '52:54:00:aa:bb:cc');
$xml =~ s/\{\{(\w+)\}\}/$v{$1} \/\/ ''/ge;
my $sx = $t->write_file('rvm-shop.xml', $xml);
chmod 0644, $sx;
my ($rc, $out) = $lv->virsh('define', $sx);
is($rc, 0, 'the operator defines rvm-shop') or diag $out;
($rc, $out) = $lv->virsh('start', 'rvm-shop');
is($rc, 0, 'and starts it') or diag $out;
($code, my $body) = $t->http('POST', 'api', '/v1/pools/rvm/instances/adopt',
    body => qq({"domain":"rvm-shop","zone":"z1","address":"127.0.0.1:$sport"}));
is($code, 202, 'adopted by API') or diag $body;
ok($t->wait_for(sub { exists members()->{'rvm-shop'} }, timeout => 120,
                interval => 0.2, what => 'rvm-shop registered'),
   'registered once it serves /healthz') or diag_state();
ok($t->wait_for(sub {
    my ($c, $b) = $t->http_get('http', '/');
    ($b // '') =~ m{<h1>rvm-shop</h1>};
}, timeout => 30, interval => 0.1, what => 'rvm-shop through the gateway'),
   'and serves through the gateway');
(undef, $out) = $lv->virsh('metadata', 'rvm-shop',
                           'https://scaleset.dev/xmlns/instance/1');
like($out, qr/origin="adopted"/, 'its tag in libvirt says adopted');

$t->stop('scaler');
start_scaler();
my $tr = time;
$t->wait_for(sub { $t->log('scaler') =~ /rvm-shop/ && time - $tr > 3 },
             timeout => 20);
ok(exists members()->{'rvm-shop'}, 'after a scaler restart it is still a member');
(undef, $out) = $lv->virsh('list', '--name');
like($out, qr/^rvm-shop$/m, 'still running');
my ($c3, $inst) = $t->http('GET', 'api', '/v1/pools/rvm/instances');
like($inst, qr/"id":"rvm-shop"[^}]*"origin":"adopted"/, 'listed as adopted');

($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                   body => '{"capacity":0}');
ok($t->wait_for(sub { keys %{ members() } == 1 }, timeout => 60,
                what => 'only rvm-shop'), 'scale to 0: the adopted one stays');
ok(exists members()->{'rvm-shop'}, 'it is rvm-shop');
ok($t->wait_for(sub { !grep { /\.seed\.iso$/ } $lv->volumes }, timeout => 30),
   'no seed volume left');

($code) = $t->http('DELETE', 'api', '/v1/pools/rvm/instances/rvm-shop');
is($code, 202, 'removed by API: accepted, drained first (issue 16)');
ok($t->wait_for(sub {
    my (undef, $l) = $lv->virsh('list', '--all', '--name');
    $l !~ /^rvm-shop$/m;
}, timeout => 30), 'then its domain goes');
$lv->virsh('vol-delete', 'rvm-shop.qcow2', '--pool', $lv->pool);
$t->stop('scaler');
$t->done;

sub members {
    return { $redis->hgetall('scaleset:{rvm}:members') };
}

sub diag_state {
    diag(explain(members()));
    diag(($lv->virsh('list', '--all'))[1]);
    diag($t->log('scaler'));
    for my $f (glob($lv->log_dir . '/*.console.log')) {
        diag("$f:\n" . $t->read_file($f));
    }
}
