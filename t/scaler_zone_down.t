#!/usr/bin/perl
# scaler: a zone whose libvirt connection fails is skipped for creation
# and logged; once it answers again (reconnect on the next pass) new
# instances go to it, the zone with the fewest.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $node = $t->dir . '/z2.xml';
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    zones => [['z1', 'test:///default'], ['z2', "test://$node"]],
    capacity => [0, 9, 3] } ]);
$s->start;
$t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
             what => '3 members');
my %zones;
$zones{$_}++ for map { /zone=(\S+)/ } values %{ $s->members('web') };
is_deeply(\%zones, { z1 => 3 }, 'all in z1 while z2 is unreachable');
like($t->log('scaler'), qr/pool=web zone z2 .* unreachable/, 'outage logged');
like($t->log('scaler'), qr/^scaler: warn: pool=web zone z2 \(\S+\) unreachable \(/m,
     'at level warn: worked around (no creation there), not routine');
my (undef, $metrics) = $t->http_get('api', '/metrics');
like($metrics, qr/^scaleset_scaler_errors_total\{pool="web",kind="libvirt"\} [1-9]\d*$/m,
     'the failed listings counted as errors of kind libvirt');
like($metrics, qr/^scaleset_scaler_errors_total\{pool="web",kind="create"\} 0$/m,
     'no creation was tried in z2, none failed');

$t->write_file($node, "<node></node>\n");
$t->wait_for(sub { $t->log('scaler') =~ /zone z2 .* is back/ }, timeout => 5,
             what => 'z2 back');
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 5 });
is($code, 200, 'capacity 5');
$t->wait_for(sub { keys %{ $s->members('web') } == 5 }, timeout => 10,
             what => '5 members');
%zones = ();
$zones{$_}++ for map { /zone=(\S+)/ } values %{ $s->members('web') };
is_deeply(\%zones, { z1 => 3, z2 => 2 }, 'new instances went to z2');

$t->done;
