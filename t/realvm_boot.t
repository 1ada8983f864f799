# Real VM: one TCG guest from conf-examples/qemu-domain.xml booted through
# a libvirtd the test starts itself, on a qcow2 overlay of a base volume;
# it serves /healthz and a page naming it through a host port forward, its
# health flips to failing, and destroy + undefine + volume delete leave no
# qemu process and no volume behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Libvirtd;

my $why = Scaleset::Libvirtd->skip_reason;
plan skip_all => $why if $why;

my $root = Scaleset::Test->root;
my $guest = "$root/build/guest";
unless (-f "$guest/vmlinuz" && -f "$guest/initramfs.gz") {
    system("$root/tools/guest-image.sh", $guest) == 0
        or BAIL_OUT('guest image build failed');
}

my $t = Scaleset::Test->new;
my $lv = Scaleset::Libvirtd->start($t);
ok($lv, 'libvirtd answers on ' . $lv->uri);

# qemu runs as libvirt-qemu: give it copies inside the 0755 temp dir
my $gdir = $lv->dir . '/guest';
mkdir $gdir; chmod 0755, $gdir;
for my $f (qw(vmlinuz initramfs.gz)) {
    system('install', '-m', '0644', "$guest/$f", "$gdir/$f") == 0 or die;
}

my $name = 'web-000001';
my $port = $t->port('vm');
my $volume = $lv->overlay($name);
ok(-f $volume, 'qcow2 overlay created');
my ($rc, $info) = $lv->virsh('vol-dumpxml', "$name.qcow2", '--pool', $lv->pool);
like($info, qr{<backingStore>.*base\.qcow2}s, 'overlay backed by the base volume');

my %var = (name => $name, uuid => uuid(), mac => '52:54:00:00:00:01',
           address => '127.0.0.1', port => $port, volume => $volume,
           pool => 'web', zone => 'z1', version => 1);
my $xml = $t->read_file("$root/conf-examples/qemu-domain.xml");
$xml =~ s/\{\{(\w+)\}\}/exists $var{$1} ? xml_escape($var{$1}) : die "unknown var $1"/ge;
$xml =~ s/GUEST_DIR/$gdir/g;
$xml =~ s/LOG_DIR/$lv->log_dir/ge;
$t->write_file($lv->dir . "/$name.xml", $xml);

$lv->track($name);
($rc, my $out) = $lv->virsh('define', $lv->dir . "/$name.xml");
is($rc, 0, 'domain defined') or diag $out;
my $t0 = time;
($rc, $out) = $lv->virsh('start', $name);
is($rc, 0, 'domain started') or diag $out;
my $qpid = $lv->qemu_pid($name);
ok($qpid && kill(0, $qpid), "qemu process running (pid " . ($qpid // '?') . ")");

my $up = $t->wait_for(sub {
    my ($code, $body) = $t->http_get($port, '/healthz');
    ($code // 0) == 200 && ($body // '') eq "ok\n";
}, timeout => 60, interval => 0.2, what => 'guest /healthz');
ok($up, sprintf('guest serves /healthz 200 ok (%.1fs after start)', time - $t0))
    or diag($t->read_file($lv->log_dir . "/$name.console.log") // '');

my ($code, $body) = $t->http_get($port, '/');
is($code, 200, '/ answers');
like($body // '', qr/<h1>\Q$name\E<\/h1>/, '/ names the instance');

($code, $body) = $t->http_get($port, '/cgi-bin/health?fail');
is($body, "fail\n", 'health switched to failing');
($code) = $t->http_get($port, '/healthz');
is($code, 404, '/healthz fails');
$t->http_get($port, '/cgi-bin/health?ok');
($code) = $t->http_get($port, '/healthz');
is($code, 200, '/healthz passes again');

($rc, $out) = $lv->virsh('destroy', $name);
is($rc, 0, 'domain destroyed') or diag $out;
($rc, $out) = $lv->virsh('undefine', $name);
is($rc, 0, 'domain undefined') or diag $out;
($rc, $out) = $lv->virsh('vol-delete', "$name.qcow2", '--pool', $lv->pool);
is($rc, 0, 'overlay deleted') or diag $out;

ok($t->wait_for(sub { !kill(0, $qpid) }, timeout => 10), 'no qemu process left');
# this test's domain: the daemon's qemu driver also lists whatever else
# is defined on the machine (/etc/libvirt/qemu), which is named, not failed
($rc, $out) = $lv->virsh('list', '--all', '--name');
my @left = grep { length } split /\s+/, $out;
is($rc, 0, 'the domains listed');
ok(!grep({ $_ eq $name } @left), "no domain $name left");
diag("defined on this machine, not by this test: @left") if @left;
is_deeply([$lv->volumes], ['base.qcow2'], 'only the base volume left');
ok(!Scaleset::Test::port_open($port), 'port forward gone');

$lv->cleanup;
$t->done;

sub uuid {
    open my $fh, '<', '/proc/sys/kernel/random/uuid' or die;
    chomp(my $u = <$fh>);
    return $u;
}

sub xml_escape {
    my ($s) = @_;
    $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g;
    $s =~ s/'/&apos;/g; $s =~ s/"/&quot;/g;
    return $s;
}
