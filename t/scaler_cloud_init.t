#!/usr/bin/perl
# scaler: template.cloud_init on libvirt's test driver.  Each instance
# gets a NoCloud seed ID.seed.iso in the storage pool (a dir pool of the
# test's own node, in the test's temp dir): an ISO 9660 volume labelled
# cidata (blkid, as cloud-init's ds-identify finds it) whose meta-data
# has instance-id = the id and local-hostname (kept from the file when it
# sets it), and whose user-data is the file rendered with the instance's
# values (read back with bsdtar); the seed goes with the instance.  The
# config check: a bad #cloud-config refused with its file and line,
# user-data that is neither #cloud-config nor #!, a template without
# {{seed}}; the #cloud-config example of docs/bootstrap.md accepted, and
# valid for cloud-init itself (`cloud-init schema`).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
for my $b (qw(bsdtar blkid cloud-init)) {
    my $ok = grep { -x "$_/$b" } split(/:/, "$ENV{PATH}:/usr/sbin:/sbin");
    BAIL_OUT("$b missing (make deps)") unless $ok;
}
$t->start_redis;
my $dir = $t->dir;
mkdir "$dir/seeds" or die "mkdir: $!";

$t->write_file('node.xml', <<"EOF");
<node>
  <pool type='dir'>
    <name>seeds</name>
    <uuid>35bb2ad9-388a-cdfe-461a-b8907f6e53fe</uuid>
    <capacity>100000000000</capacity><allocation>0</allocation>
    <available>100000000000</available>
    <source/>
    <target><path>$dir/seeds</path></target>
  </pool>
</node>
EOF
$t->write_file('seed-dom.xml', <<'EOF');
<domain type='test'>
  <name>{{name}}</name>
  <uuid>{{uuid}}</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='cdrom'>
      <source file='{{seed}}'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
  </devices>
</domain>
EOF
$t->write_file('user-data', <<'EOF');
#cloud-config
hostname: {{name}}
write_files:
  - path: /etc/scaleset-instance
    content: "{{name}} zone {{zone}} version {{version}} at {{address}}:{{port}}"
EOF
$t->write_file('meta-data', "local-hostname: shop-{{name}}\n");

my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    zones => [['z1', "test://$dir/node.xml"]], capacity => [0, 5, 0],
    templates => "    template: { domain: $dir/seed-dom.xml, version: 4,"
               . " cloud_init: { user_data: $dir/user-data,"
               . " meta_data: $dir/meta-data, pool: seeds } }\n" } ]);
$s->start;

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
is($code, 200, 'capacity 2');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 15,
                what => '2 members'), 'two instances registered');
my @ids = sort keys %{ $s->members('web') };
is_deeply(\@ids, ['web-000001', 'web-000002'], 'their ids');
my %addr = map { my ($a) = split / /, $s->members('web')->{$_}; $_ => $a } @ids;

for my $id (@ids) {
    my $iso = "$dir/seeds/$id.seed.iso";
    ok(-s $iso, "$id: its seed is in the storage pool") or next;
    my $blkid = qx{blkid -p -o export $iso 2>&1};
    like($blkid, qr/^TYPE=iso9660$/m, "$id: an ISO 9660 volume");
    like($blkid, qr/^LABEL=cidata$/m, "$id: labelled cidata");
    my $md = qx{bsdtar -xOf $iso meta-data 2>&1};
    like($md, qr/^instance-id: \Q$id\E$/m, "$id: meta-data instance-id");
    like($md, qr/^local-hostname: shop-\Q$id\E$/m,
         "$id: its own local-hostname kept, rendered");
    my $ud = qx{bsdtar -xOf $iso user-data 2>&1};
    my ($ip, $port) = split /:/, $addr{$id};
    is($ud, "#cloud-config\nhostname: $id\nwrite_files:\n"
          . "  - path: /etc/scaleset-instance\n"
          . "    content: \"$id zone z1 version 4 at $ip:$port\"\n",
       "$id: user-data rendered with its values as they are");
}
my ($c2, $inst) = $s->api('GET', '/v1/pools/web');
is($inst->{templates}[0]{cloud_init}, JSON::PP::true(),
   'the API says the template has cloud_init');

($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
ok($t->wait_for(sub { !-e "$dir/seeds/web-000002.seed.iso" }, timeout => 15,
                what => 'seed of web-000002 gone'),
   'the seed goes with its instance');
like($t->log('scaler'),
     qr/id=web-000002 volume \Q$dir\E\/seeds\/web-000002\.seed\.iso deleted/,
     'its volume deleted, logged');
ok(-e "$dir/seeds/web-000001.seed.iso", 'the other seed stays');

# --- the config check ------------------------------------------------------

my $bin = $t->bin('scaleset-scaler');
sub check {
    my (%files) = @_;
    for my $f (grep { $_ ne 'domain' } keys %files) {
        $t->write_file($f, $files{$f});
    }
    my $conf = $t->write_file('check.yaml', <<"EOF");
pools:
  - name: web
    zones: [ { name: z1, uri: "test:///default" } ]
    template:
      domain: $dir/@{[ $files{domain} ? 'check-dom.xml' : 'seed-dom.xml' ]}
      cloud_init: { user_data: $dir/check-ud, pool: seeds }
    address: { cidr: 127.0.1.0/24, port: 8080 }
EOF
    my $out = qx{$bin -t -c $conf 2>&1};
    return ($? >> 8, $out);
}
my ($rc, $out) = check('check-ud' => "#cloud-config\npackages:\n  - nginx\n"
                                    . "runcmd:\n  - [echo, 1]\n  bad: [\n");
is($rc, 1, 'a bad #cloud-config is refused');
like($out, qr/^\Q$dir\E\/check-ud:6: not YAML/m, 'with its file and line');
($rc, $out) = check('check-ud' => "echo hello\n");
like($out, qr/check-ud:1: user-data must start with #cloud-config .* or #!/,
     'user-data that is neither YAML nor a script is refused');
($rc, $out) = check('check-ud' => "#!/bin/sh\necho {{name}}: [\n");
is($rc, 0, 'a #! script is taken as it is') or diag $out;
($rc, $out) = check('check-ud' => "#!/bin/sh\n",
                    domain => 1, 'check-dom.xml' => "<domain type='test'>"
                    . "<name>{{name}}</name></domain>\n");
like($out, qr/check\.yaml:\d+: pool "web": cloud_init, but the domain template \S+ has no \{\{seed\}\}/,
     'cloud_init without {{seed}} in the domain is refused');

# the example of docs/bootstrap.md: accepted here, valid for cloud-init
my $doc = $t->read_file($t->root . '/docs/bootstrap.md');
my ($example) = $doc =~ /<!-- bootstrap-example: begin -->\n```yaml\n(.*?)```\n<!-- bootstrap-example: end -->/s;
ok($example, 'docs/bootstrap.md has the example');
($rc, $out) = check('check-ud' => $example);
is($rc, 0, 'the config check accepts the example') or diag $out;
(my $rendered = $example) =~ s/\{\{name\}\}/web-000001/g;
$rendered =~ s/\{\{pool\}\}/web/g;
$rendered =~ s/\{\{zone\}\}/z1/g;
$rendered =~ s/\{\{version\}\}/1/g;
$t->write_file('example-rendered', $rendered);
my $schema = qx{cloud-init schema --config-file $dir/example-rendered 2>&1};
is($? >> 8, 0, 'cloud-init schema: the example is valid cloud-config')
    or diag $schema;
like($schema, qr/Valid cloud-config/, 'as cloud-init says');
$t->done;
