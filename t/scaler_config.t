#!/usr/bin/perl
# scaler configuration: -t reports each bad config as file:line: reason and
# exits 1; SIGHUP with a bad file keeps the running config, with a good one
# applies it and keeps the instances.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $bin = $t->bin('scaleset-scaler');
my $dir = $t->dir;

my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    capacity => [0, 4, 2] } ]);
my $conf = $s->write_config;
my $out = qx{$bin -t -c $conf 2>&1};
is($? >> 8, 0, '-t accepts a good config');
like($out, qr/configuration ok/, 'and says so');

my @bad = (
    [ "interval: 5s\nfoo: 1\n", 2, qr/unknown key "foo"/ ],
    [ "interval: soon\n", 1, qr/bad duration "soon"/ ],
    [ "pools:\n  - name: web\n    zones:\n      - { name: z1, uri: x }\n"
      . "    template: { domain: /nope.xml }\n", 5,
      qr/cannot read template "\/nope.xml"/ ],
    [ "pools:\n  - name: web\n    zones:\n      - { name: z1, uri: x }\n"
      . "    template: { domain: $dir/dom.xml }\n"
      . "    address: { cidr: 300.0.0.0/8, port: 80 }\n", 6, qr/bad CIDR/ ],
    [ "pools:\n  - name: web\n    zones:\n      - { name: z1, uri: x }\n"
      . "    template: { domain: $dir/dom.xml }\n"
      . "    address: { cidr: 127.0.0.0/8, port: 80 }\n"
      . "    capacity: { min: 3, max: 1 }\n", 7, qr/min 3 > max 1/ ],
    [ "redis: [1, 2\n", 2, qr/./ ],
);
for my $b (@bad) {
    $t->write_file('bad.yaml', $b->[0]);
    $out = qx{$bin -t -c $dir/bad.yaml 2>&1};
    is($? >> 8, 1, "exit 1 for line $b->[1]");
    like($out, qr/^\Q$dir\E\/bad\.yaml:$b->[1]: /, "line $b->[1] reported");
    like($out, $b->[2], 'with the reason');
}

$t->start_redis;
$s->start;
$t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
             what => '2 members');
my $before = join ',', sort keys %{ $s->members('web') };

$t->write_file('scaler.yaml', "interval: 1s\nbogus: 1\n");
kill 'HUP', $t->{servers}{scaler}{pid};
$t->wait_for(sub { $t->log('scaler') =~ /reload rejected/ }, timeout => 5,
             what => 'rejection');
like($t->log('scaler'), qr/reload rejected.*scaler\.yaml:2: unknown key/,
     'bad reload rejected with its line');
my ($code, $p) = $s->api('GET', '/v1/pools/web');
is($code, 200, 'still serving');
is($p->{max}, 4, 'old config kept');

$s->{opt}{pools}[0]{capacity} = [0, 6, 2];
$s->write_config;
kill 'HUP', $t->{servers}{scaler}{pid};
$t->wait_for(sub { my (undef, $x) = $s->api('GET', '/v1/pools/web');
                   ref $x && $x->{max} == 6 }, timeout => 5,
             what => 'new config');
($code, $p) = $s->api('GET', '/v1/pools/web');
is($p->{max}, 6, 'new config applied');
select undef, undef, undef, 0.6;
is(join(',', sort keys %{ $s->members('web') }), $before,
   'instances kept across the reload');
(undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{instances}, 2, 'no new domains');

$t->done;
