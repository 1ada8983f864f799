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

# autoscale: prometheus, rules, schedules (line numbers of the offending
# node; the pool header takes lines 2-6)
my $pool = "pools:\n  - name: web\n    zones:\n      - { name: z1, uri: x }\n"
         . "    template: { domain: $dir/dom.xml }\n"
         . "    address: { cidr: 127.0.0.0/8, port: 80 }\n";
my $prom = "prometheus: { url: http://127.0.0.1:9, timeout: 2s }\n";
my $rule = sub {
    my (%o) = @_;
    my %r = (name => 'busy', query => "'up'", operator => '">"',
             threshold => 5, action => '{ change: 1 }', %o);
    return "      - { " . join(', ', map { "$_: $r{$_}" }
                                  grep { defined $r{$_} } sort keys %r)
           . " }\n";
};
push @bad,
    [ "prometheus: { url: ftp://x }\n", 1, qr/expected http/ ],
    [ "prometheus: { url: http://x, tls: on }\n", 1,
      qr/unknown key "tls" in prometheus/ ],
    [ "prometheus: { timeout: 2s }\n", 1, qr/prometheus needs url/ ],
    [ $pool . "    rules:\n" . $rule->(), 8,
      qr/pool web has rules but there is no prometheus url/ ],
    [ $prom . $pool . "    rules:\n" . $rule->(operator => '"=>"'), 9,
      qr/operator "=>": expected >, >=, < or <=/ ],
    [ $prom . $pool . "    rules:\n" . $rule->(threshold => 'high'), 9,
      qr/"high" is not a number/ ],
    [ $prom . $pool . "    rules:\n" . $rule->(action => '{ change: 0 }'),
      9, qr/an action of 0/ ],
    [ $prom . $pool . "    rules:\n"
      . $rule->(action => '{ change: 1, exact: 2 }'), 9,
      qr/exactly one of change, percent, exact/ ],
    [ $prom . $pool . "    rules:\n" . $rule->(action => '{ double: 1 }'),
      9, qr/unknown key "double" in action/ ],
    [ $prom . $pool . "    rules:\n" . $rule->(for => '2x'), 9,
      qr/bad duration "2x"/ ],
    [ $prom . $pool . "    rules:\n" . $rule->(reduce => 'median'), 9,
      qr/reduce "median"/ ],
    [ $prom . $pool . "    rules:\n" . $rule->(query => undef), 9,
      qr/rule busy needs a query/ ],
    [ $prom . $pool . "    rules:\n" . $rule->() . $rule->(), 10,
      qr/duplicate rule "busy"/ ],
    [ $prom . $pool . "    schedules:\n      - { name: a, cron: \"0 25 * * *\", "
      . "capacity: { min: 1, max: 2 } }\n", 9, qr/cron "0 25 \* \* \*": .*hour/ ],
    [ $prom . $pool . "    schedules:\n      - { name: a, cron: \"0 8 * * *\", "
      . "timezone: Mars/Olympus, capacity: { min: 1, max: 2 } }\n", 9,
      qr/unknown time zone "Mars\/Olympus"/ ],
    [ $prom . $pool . "    schedules:\n      - { name: a, cron: \"0 8 * * *\", "
      . "capacity: { min: 3, max: 2 } }\n", 9,
      qr/expected min <= default <= max/ ],
    [ $prom . $pool . "    schedules:\n      - { name: a, start: \"2026-12-02 00:00\", "
      . "end: \"2026-12-01 00:00\", capacity: { min: 1, max: 2 } }\n", 9,
      qr/schedule a ends before it starts/ ],
    [ $prom . $pool . "    schedules:\n      - { name: a, start: \"Monday\", "
      . "end: \"2026-12-01 00:00\", capacity: { min: 1, max: 2 } }\n", 9,
      qr/"Monday": expected YYYY-MM-DD HH:MM/ ],
    [ $prom . $pool . "    schedules:\n      - { name: a, cron: \"0 8 * * *\", "
      . "start: \"2026-12-01 00:00\", capacity: { min: 1, max: 2 } }\n", 9,
      qr/either cron .* or start and end/ ],
    [ $prom . $pool . "    max_step: -1\n", 8, qr/not an integer/ ];

# keys that are no scalars, and keys given twice (#13: a heap over-read
# of the key's text, and leaks, under SCALESET_ASAN_BINS=1)
push @bad,
    [ "redis:\n  ? []\n  : 1\n", 2, qr/redis: keys must be scalars/ ],
    [ $pool . "    ? { a: 1 }\n    : 1\n", 7, qr/pool: keys must be scalars/ ],
    [ $prom . $pool . "    rules:\n      - { ? [x] : 1 }\n", 9,
      qr/rule: keys must be scalars/ ],
    [ $pool . "    name: web2\n", 7, qr/pool: "name" given twice/ ],
    [ $prom . $pool . "    rules:\n"
      . $rule->(query => "'a', query: 'b'"), 9, qr/"query" given twice/ ];

# a config with every autoscale key is accepted
$t->write_file('good.yaml', $prom . $pool
    . "    capacity: { min: 1, max: 10, default: 2 }\n    max_step: 2\n"
    . "    rules:\n" . $rule->(for => '30s', cooldown => '1m')
    . $rule->(name => 'idle', operator => '"<"', threshold => '1.5e1',
              action => '{ percent: -50 }', reduce => 'max',
              per_instance => 'false')
    . "    schedules:\n"
    . "      - { name: office, cron: \"0 8 * * 1-5\", until: \"0 18 * * 1-5\", "
    . "timezone: Europe/Berlin, capacity: { min: 4, max: 20, default: 4 } }\n"
    . "      - { name: bf, start: \"2026-11-27 00:00\", end: \"2026-11-30 00:00\", "
    . "timezone: America/New_York, capacity: { min: 10, max: 40 } }\n");
$out = qx{$bin -t -c $dir/good.yaml 2>&1};
is($? >> 8, 0, '-t accepts rules, schedules and max_step') or diag $out;
for my $b (@bad) {
    $t->write_file('bad.yaml', $b->[0]);
    $out = qx{$bin -t -c $dir/bad.yaml 2>&1};
    is($? >> 8, 1, "exit 1 for line $b->[1]");
    like($out, qr/^\Q$dir\E\/bad\.yaml:$b->[1]: /, "line $b->[1] reported");
    like($out, $b->[2], 'with the reason');
    unlike($out, qr/Sanitizer|runtime error/, 'no sanitizer report');
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

# a reload with capacity [min, max, default]; waits until the API has max
sub reload_capacity {
    my (@cap) = @_;
    $s->{opt}{pools}[0]{capacity} = [@cap];
    $s->write_config;
    kill 'HUP', $t->{servers}{scaler}{pid};
    $t->wait_for(sub { my (undef, $x) = $s->api('GET', '/v1/pools/web');
                       ref $x && $x->{max} == $cap[1] }, timeout => 5,
                 what => "max $cap[1]");
}

reload_capacity(0, 6, 2);
($code, $p) = $s->api('GET', '/v1/pools/web');
is($p->{max}, 6, 'new config applied');
select undef, undef, undef, 0.6;
is(join(',', sort keys %{ $s->members('web') }), $before,
   'instances kept across the reload');
(undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{instances}, 2, 'no new domains');

# new bounds hold at once: a reload with max 1 clamps the capacity
reload_capacity(0, 1, 0);
(undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{capacity}, 1, 'a reload lowering max clamps the capacity');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 1 }, timeout => 10,
                what => '1 member'), 'and the pool scales in to it');

$t->done;
