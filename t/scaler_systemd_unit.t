#!/usr/bin/perl
# conf-examples/scaleset-scaler.service: systemd's own review of its
# sandbox (systemd-analyze security --offline) stays at the exposure
# docs/security.md records (1.3, "OK"; the unit before this review: 1.9),
# with the settings the scaler must not lose: its libvirt group, the
# libvirt socket's address family, the API's and Redis's networks.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new;
my $unit = $t->root . '/conf-examples/scaleset-scaler.service';
my $bin = Scaleset::Test::_which('systemd-analyze')
    or BAIL_OUT('systemd-analyze not found: run make deps');
my $out = qx{$bin security --offline=yes --no-pager $unit 2>&1};
my ($level) = $out =~ /Overall exposure level for \S+: ([\d.]+)/;
ok(defined $level, 'systemd-analyze rates the unit') or diag $out;
cmp_ok($level // 10, '<=', 1.3, "exposure $level (recorded: 1.3)");

my $text = $t->read_file($unit);
like($text, qr/^SupplementaryGroups=libvirt$/m, 'in the libvirt group');
like($text, qr/^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$/m,
     'unix sockets (libvirtd) and IP (Redis, API)');
unlike($text, qr/^(PrivateNetwork|PrivateUsers)=yes/m,
       'neither private network nor private users');
like($text, qr/^User=scaleset$/m, 'not root');
like($text, qr/^CapabilityBoundingSet=$/m, 'no capabilities');

$t->done;
