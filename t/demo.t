#!/usr/bin/perl
# make demo's script, shortened (DEMO_SECONDS=30): it starts every part,
# the load makes the rule scale the pool out, no request fails, and at the
# end every process it started is gone and its directory removed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new(need => [qw(redis nginx prometheus scaler)]);

local $ENV{DEMO_SECONDS} = 30;
delete local $ENV{DEMO_KEEP};
my $out = qx{$^X @{[ $t->root ]}/tools/demo 2>&1};
my $rc = $? >> 8;
is($rc, 0, 'the demo ends by itself with status 0') or diag $out;

my %pid = $out =~ /^demo: started (\S+) \(pid (\d+)\)$/mg;
is_deeply([sort keys %pid],
          [qw(guestsim loadgen nginx prometheus redis scaler)],
          'it starts redis, nginx, prometheus, the scaler, guestsim, load');
like($out, qr{^demo: gateway status http://127\.0\.0\.1:\d+/scaleset/status$}m,
     'it prints the status URLs');
like($out, qr/^demo: pool=web autoscale out rule=busy: \d+ -> \d+/m,
     'the rising load scales the pool out, with the rule named');
like($out, qr/^demo: \[\s*\d+s\] load +\d+ req\/s, capacity \d+, \d+ instances \(z1=\d+ z2=\d+\)/m,
     'progress shows capacity and instances per zone');
my ($ok, $failed) = $out =~ /^demo: (\d+) requests answered, (\d+) failed/m;
cmp_ok($ok // 0, '>', 500, 'requests were served');
is($failed, 0, 'none failed');
is(scalar(() = $out =~ /^demo: stopped \S+$/mg), 6, 'it stops all six');
is(scalar(grep { kill 0, $_ } values %pid), 0, 'no process of it is left');
my ($dir) = $out =~ m{^demo: working directory (/\S+)$}m;
ok(defined $dir && !-e $dir, 'its directory is removed');

$t->done;
