#!/usr/bin/perl
# scaler: address mode lease.  An instance has no address until libvirt
# reports one for its interface (virDomainInterfaceAddresses, source
# lease); the test driver answers with a fixed 192.168.122.x per
# interface, so the member records carry those addresses with the pool's
# port.  readiness: none — nothing here connects to them (the addresses
# are not on loopback).  A template without an interface gets no address
# and is never registered; in mode agent an address outside the pool's
# address.cidr is refused and logged once.

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

$t->write_file('lease.xml', <<'EOF');
<domain type='test'>
  <name>{{name}}</name>
  <uuid>{{uuid}}</uuid>
  <description>address=[{{address}}] port={{port}}</description>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'>
      <source network='default'/>
      <mac address='{{mac}}'/>
    </interface>
  </devices>
</domain>
EOF
$t->write_file('nonic.xml', <<'EOF');
<domain type='test'>
  <name>{{name}}</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
EOF
my $conf = $t->write_file('scaler.yaml', sprintf(<<'EOF',
redis: { address: 127.0.0.1:%d }
api: { listen: 127.0.0.1:%d }
interval: 200ms
pools:
  - name: web
    zones: [ { name: z1, uri: "test:///default" } ]
    template: { domain: %s/lease.xml }
    address: { mode: lease, port: 8080 }
    readiness: none
    capacity: { min: 0, max: 5, default: 0 }
  - name: bare
    zones: [ { name: z1, uri: "test:///default" } ]
    template: { domain: %s/nonic.xml }
    address: { mode: agent, port: 80, cidr: 192.168.122.0/24 }
    readiness: none
    capacity: { min: 0, max: 5, default: 1 }
  - name: guarded
    zones: [ { name: z1, uri: "test:///default" } ]
    template: { domain: %s/lease.xml }
    address: { mode: agent, port: 80, cidr: 10.99.0.0/16 }
    readiness: none
    capacity: { min: 0, max: 5, default: 1 }
EOF
    $t->port('redis'), $t->port('api'), $dir, $dir, $dir));
my ($rc) = system($t->bin('scaleset-scaler'), '-t', '-c', $conf);
is($rc, 0, 'scaleset-scaler -t accepts modes lease and agent');
$t->spawn(name => 'scaler', wait_port => 'api',
          cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);
my $s = Scaleset::Scaler->new($t);

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'capacity 3');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
                what => '3 members'), '3 members registered');
my $m = $s->members('web');
for my $id (sort keys %$m) {
    like($m->{$id}, qr/^192\.168\.122\.\d+:8080 zone=z1 version=1$/,
         "$id registered at its leased address");
}
my (undef, $p) = $s->api('GET', '/v1/pools/web');
is(scalar(grep { $_->{address} =~ /^192\.168\.122\.\d+:8080$/ }
          @{ $p->{instances_list} }), 3, 'the API shows the leased addresses');

# no interface, no address: booting, never registered
ok($t->wait_for(sub {
    my (undef, $b) = $s->api('GET', '/v1/pools/bare');
    ref $b && @{ $b->{instances_list} } == 1;
}, timeout => 5), 'the agent pool has its instance');
select undef, undef, undef, 1;
(undef, $p) = $s->api('GET', '/v1/pools/bare');
is($p->{instances_list}[0]{state}, 'booting', 'without an address it stays booting');
is($p->{instances_list}[0]{address}, '', 'and has no address');
is(scalar keys %{ $s->members('bare') }, 0, 'and is not registered');
unlike($t->log('scaler'), qr/pool=bare .*member record/,
       'an instance without an address is not tried as a member');

# the guest agent reports an address outside the pool's network: refused
# and logged, never registered (#13: whatever the guest said was trusted)
ok($t->wait_for(sub { $t->log('scaler') =~ /pool=guarded id=guarded-000001 the guest's address 192\.168\.122\.\d+ is outside the pool's network: refused/ },
                timeout => 10, what => 'refusal logged'),
   'an agent address outside address.cidr is refused and logged');
select undef, undef, undef, 1;
(undef, $p) = $s->api('GET', '/v1/pools/guarded');
is($p->{instances_list}[0]{state}, 'booting', 'refused: it stays booting');
is(scalar keys %{ $s->members('guarded') }, 0, 'and is not registered');
my $n = () = $t->log('scaler') =~ /pool=guarded .*outside the pool's network/g;
is($n, 1, 'logged once, not on every pass');

($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 0 });
ok($t->wait_for(sub { keys %{ $s->members('web') } == 0 }, timeout => 10,
                what => 'no members'), 'scale to 0');

$t->done;
