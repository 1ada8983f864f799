#!/usr/bin/perl
# scalesetctl against a real scaler: pools, show, scale --wait (plain lines
# when not on a terminal), --json, delete, token from --token-file and
# SCALESET_TOKEN, errors with the API's reason and a non-zero exit.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
$t->write_file('token', "tok\n");
my $s = Scaleset::Scaler->new($t, api_extra => 'token_file: ' . $t->dir
    . '/token', pools => [ { name => 'web',
    zones => [['z1', 'test:///default'], ['z2', 'test:///default']],
    capacity => [0, 8, 0] } ]);
$s->start;
my $ctl = $t->bin('scalesetctl');
my $api = 'http://127.0.0.1:' . $t->port('api');

sub ctl {
    my (@args) = @_;
    my $out = qx{$ctl --api $api --token-file @{[$t->dir]}/token @args 2>&1};
    return ($? >> 8, $out);
}

my ($rc, $out) = ctl('scale', 'web', 5, '--wait');
is($rc, 0, 'scale 5 --wait exits 0') or diag $out;
like($out, qr/^web: 5\/5 running$/m, 'plain progress lines off a terminal');
unlike($out, qr/\r/, 'no bar off a terminal');
is(scalar keys %{ $s->members('web') }, 5, '5 members when --wait returns');

($rc, $out) = ctl('pools');
like($out, qr/^web\s+5\s+5\s+0\s+8$/m, 'pools table');
($rc, $out) = ctl('--json', 'show', 'web');
my $j = eval { decode_json($out) };
is(scalar @{ $j->{instances_list} // [] }, 5, 'show --json lists 5');

($rc, $out) = ctl('scale', 'web', 2, '--wait');
is($rc, 0, 'scale 2 --wait');
is(scalar keys %{ $s->members('web') }, 2, '2 members');

($rc, $out) = ctl('scale', 'web', 9);
is($rc, 1, 'capacity above max: refused, exit 1');
is($out, "scalesetctl: capacity 9 is outside min..max 0..8\n",
   "the API's message, not an HTTP code");
($rc, $out) = ctl('show', 'nope');
is($rc, 1, 'unknown pool: exit 1');
is($out, "scalesetctl: no pool \"nope\"\n", 'unknown pool: the message');

my ($id) = sort keys %{ $s->members('web') };
($rc, $out) = ctl('delete', 'web', $id);
is($rc, 0, "delete $id");
is($out, "web: $id drains, then it is deleted\n", 'says it drains first');
ok($t->wait_for(sub { !exists $s->members('web')->{$id} }, timeout => 5,
                what => 'member gone'), 'member gone');

$out = qx{$ctl --api $api pools 2>&1};
is($? >> 8, 1, 'no token: exit 1');
is($out, "scalesetctl: missing or wrong bearer token\n", 'no token: the message');
$out = qx{SCALESET_TOKEN=tok SCALESET_API=$api $ctl pools 2>&1};
like($out, qr/^web\s/m, 'SCALESET_TOKEN and SCALESET_API');

$t->done;
