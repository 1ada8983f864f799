# A rolling upgrade of real VMs: 3 qemu guests (TCG) through a libvirtd
# the test starts, the scaler on conf-examples/scaler-qemu.yaml
# (upgrade.image: true; here max_batch_percent 34: a batch of one, so
# that one TCG guest boots at a time on a 2-core machine and the running
# ones keep answering), Redis and nginx with the module (health checks
# that allow a slow answer: 3 failures of 900 ms), load through the gateway.  The guests' base volume is base image 1 of `make
# guest-image` (each guest's page names the image its disk carries);
# another file at the base's path, image 2, starts the rolling upgrade by
# itself: batch by batch a new guest boots on image 2 while the old ones
# serve, then an old one drains and goes.  0 failed client requests; every page says
# image 2 at the end.
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

my $root = Scaleset::Test->root;
unless (-f "$root/build/guest/image-2.qcow2") {
    system('make', '-C', $root, 'guest-image') == 0
        or BAIL_OUT('guest image build failed');
}
my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvm-');
$lv->purge;
my $tpl = Scaleset::RealVM::template($t, $lv);
my $lo = Scaleset::RealVM::port_range(8);
ok($lo, "port range $lo-" . ($lo + 7));

sub base_image { Scaleset::RealVM::set_base_image($t, $lv, $_[0]) }
base_image(1);

$t->start_redis;
Scaleset::RealVM::start_gateway($t, 'rvm',
    check => 'interval=1s timeout=900ms fails=3 passes=1');
my $conf = $t->write_file('scaler.yaml',
    Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl, ports => $lo,
        drain_timeout => '5s',
        # a drained guest that has not powered off on ACPI within
        # termination.shutdown_timeout is destroyed: 5 s, within the
        # test's wait for the last one (the default is 30 s)
        more => { qr/upgrade: \{ image: true \}/
                  => "upgrade: { image: true, max_batch_percent: 34 }\n"
                  . "    termination: { shutdown_timeout: 5s }" }));
$t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
          cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);

sub pages {         # image => count, of n pages through the gateway
    my ($n) = @_;
    my %img;
    for (1 .. $n) {
        my ($c, $b) = $t->http_get('http', '/');
        $img{($c // 0) == 200 && ($b // '') =~ m{<p>image (\S+)</p>}
             ? $1 : "status " . ($c // 0)}++;
    }
    return \%img;
}
sub upgrade { my ($c, $b) = $t->http('GET', 'api', '/v1/pools/rvm/upgrade');
              ($c // 0) == 200 ? (eval { JSON::PP::decode_json($b) } // {})
                               : {} }
require JSON::PP;

my ($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                      body => '{"capacity":3}');
is($code, 200, 'capacity 3');
ok($t->wait_for(sub {
        my $m = { $t->redis->hgetall('scaleset:{rvm}:members') };
        my $st = $t->gateway_status('http', '/scaleset/status');
        keys %$m == 3 && 3 == grep { $_->{state} eq 'up' }
                         @{ $st->{pools}{rvm}{members} // [] };
    }, timeout => 150, interval => 0.5, what => '3 guests up'),
   '3 guests up in the gateway');
is_deeply(pages(12), { 1 => 12 }, 'their pages say image 1');
my @old = sort keys %{ { $t->redis->hgetall('scaleset:{rvm}:members') } };

$t->start_loadgen(rate => 5);
ok($t->wait_for(sub { ($t->loadgen_stats->{ok} // 0) > 5 }, timeout => 20,
                what => 'load'), 'load through the gateway');

# image 2 at the base's path: the upgrade starts by itself
my $t0 = time;
base_image(2);
ok($t->wait_for(sub { (upgrade()->{state} // '') eq 'rolling' },
                timeout => 20, interval => 0.2, what => 'rolling'),
   'a new base image starts a rolling upgrade (upgrade.image)');
my $started = time - $t0;
like($t->log('scaler'), qr/upgrade rolling \(started \(the base image changed: z1 [0-9a-f]{12} -> [0-9a-f]{12}\): version 1 -> 1, 3 outdated; batch 1 of 3 in zone z1: rvm-000001 -> version 1\)/,
     'logged with the old and the new digest');
ok($t->wait_for(sub { (upgrade()->{state} // '') eq 'done' },
                timeout => 240, interval => 0.5, what => 'done'),
   'the upgrade is done');
my $took = time - $t0;
is_deeply(pages(12), { 2 => 12 }, 'every page says image 2');
# the last old guest may still be draining when the upgrade is done (then
# shut down: drain_timeout 5 s and shutdown_timeout 5 s at most)
my @new;
ok($t->wait_for(sub {
        @new = sort keys %{ { $t->redis->hgetall('scaleset:{rvm}:members') } };
        @new == 3 }, timeout => 20, what => '3 members'),
   '3 members once the last drain is over');
ok(!(grep { my $n = $_; grep { $_ eq $n } @old } @new),
   'none of the old guests is left');
my $ls = $t->loadgen_stats;
is($ls->{failed}, 0, "0 failed client requests of $ls->{ok}")
    or diag explain $ls->{codes}, $ls->{errors};
note(sprintf('3 real guests, image 1 -> 2: started after %.1f s, done after '
             . '%.1f s', $started, $took));
$t->write_file('realvm_upgrade.result',
               sprintf("started %.1f\ndone %.1f\n", $started, $took));
$t->done;
