#!/usr/bin/perl
# scaler: template values with XML metacharacters.  The storage pool's
# directory is "/srv/sc & 'q' <x> \"d\"", so every overlay path holds all
# five; it goes into the domain template as {{volume}} (escaped, or the
# domain would not define), into our <metadata> tag (escaped) and back
# (decoded, or the volume would not be found again and deleted).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $dir = $t->dir;
my $weird = q{/srv/sc & 'q' <x> "d"};

my %pool = (name => 'web', capacity => [0, 10, 0],
    template_extra => 'volume: { pool: images, backing: base.qcow2 }');
my $s = Scaleset::Scaler->new($t, pools => [ \%pool ]);
$pool{zones} = [['z1', $s->volume_node(
    target => q{/srv/sc &amp; &apos;q&apos; &lt;x&gt; &quot;d&quot;})]];
# the overlay is the domain's disk: its path is rendered into the XML
$t->write_file('dom.xml', <<'EOF2');
<domain type='test'>
  <name>{{name}}</name>
  <uuid>{{uuid}}</uuid>
  <description>{{volume}}</description>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='{{volume}}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
EOF2
$s->start;

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
is($code, 200, 'scale to 2');
$t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
             what => '2 members');
my $log = $t->log('scaler');
unlike($log, qr/define:|volume web-\S+ is at|base volume/,
       'domains defined and overlays created at the expected paths');
is_deeply([sort keys %{ $s->members('web') }], ['web-000001', 'web-000002'],
          'both instances registered');

($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 0 });
is($code, 200, 'scale to 0');
$t->wait_for(sub { keys %{ $s->members('web') } == 0 }, timeout => 10,
             what => 'no members');
$t->wait_for(sub { $t->log('scaler') =~ /id=web-000002 .*volume \Q$weird\E\/web-000002\.qcow2 deleted/ },
             timeout => 10, what => 'second overlay deleted');
like($t->log('scaler'),
     qr/id=web-000001 .*volume \Q$weird\E\/web-000001\.qcow2 deleted/,
     'overlays found again by their decoded path and deleted');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{instances}, 0, 'no instances left');

$t->done;
