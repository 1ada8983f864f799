#!/usr/bin/perl
# Autoscale rules against a real Prometheus scraping values the test
# controls, through the pool autoscaler (scaler/autoscale/autoscale_runner.c) in the
# autoscale_loop driver: scale out by the rule's step only after for:,
# cooldown respected, scale in only when ALL in-rules hold, flapping
# (skipped and partial), a fixed-date profile window clamping capacity,
# Prometheus killed -> no action, logged once, error counters rise.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new(need => [qw(prometheus)]);

my $driver = $t->build . '/t/helpers/autoscale_loop';
-x $driver or BAIL_OUT("$driver not built: run make units");

my $metrics = $t->dir . '/metrics.txt';
sub set_metrics {
    my (%v) = @_;
    my $text = '';
    for my $k (sort keys %v) {
        my ($name, $id) = split /:/, $k;
        $text .= defined $id ? "$name\{instance_id=\"$id\"} $v{$k}\n"
                             : "$name $v{$k}\n";
    }
    $t->write_file('metrics.tmp', $text);
    rename $t->dir . '/metrics.tmp', $metrics or die "rename: $!";
}

my %load = ('scaleset_test_load:a' => 20, 'scaleset_test_load:b' => 20,
            'scaleset_test_idle' => 5);
set_metrics(%load);

my $mport = $t->port('metrics');
$t->spawn(name => 'metrics',
          cmd => [$^X, "$FindBin::Bin/lib/metrics_endpoint.pl", $mport,
                  $metrics],
          wait_port => 'metrics');
my $prom = $t->start_prometheus(scrape => ["127.0.0.1:$mport"],
                                interval => '500ms');
my $url = "http://127.0.0.1:$prom->{port}";

ok($t->wait_for(sub {
        my $d = $t->prom_query('scaleset_test_idle');
        $d && @{ $d->{result} } }, timeout => 20, what => 'first scrape'),
   'prometheus scrapes the test endpoint');

# the driver's evaluations: [ { n, ms, cap, prev, dir, flap, profile,
# rules => { name => { status, value, fired, held, cooldown, errors } } } ]
sub evals {
    my ($name) = @_;
    my @e;
    for my $line (split /\n/, $t->log($name) // '') {
        next unless $line =~ /^eval (\d+) ms=(\d+) cap=(\d+) prev=(\d+) dir=(\w+) flap=(\d) profile=(\S+) (.*)$/;
        my %e = (n => $1, ms => $2, cap => $3, prev => $4, dir => $5,
                 flap => $6, profile => $7);
        my $rest = $8;
        while ($rest =~ /(\w+)=(\w+),([^,]+),(\d),(\d+),(\d+),(\d+)/g) {
            $e{rules}{$1} = { status => $2, value => $3, fired => $4,
                              held => $5, cooldown => $6, errors => $7 };
        }
        push @e, \%e;
    }
    return @e;
}

sub first_eval {
    my ($name, $cond, %opt) = @_;
    my $found;
    $t->wait_for(sub {
        ($found) = grep { $cond->($_) } evals($name);
        $found }, timeout => $opt{timeout} // 15, what => $opt{what});
    return $found;
}

sub start_loop {
    my ($name, $conf) = @_;
    require JSON::PP;
    $conf->{prometheus} = $url;
    $conf->{interval_ms} //= 250;
    my $file = $t->write_file("$name.json", JSON::PP::encode_json($conf));
    $t->spawn(name => $name, cmd => [$driver, $file],
              wait => sub { ($t->log($name) // '') =~ /^started$/m });
}

# --- rules: out after for:, cooldown, ALL in-rules, prometheus killed ---

start_loop('rules', {
    capacity => [1, 10, 2], current => 2,
    rules => [
        { name => 'busy', query => 'max(scaleset_test_load)', operator => '>',
          threshold => 50, for_ms => 2000, change => 2, cooldown_ms => 3000,
          per_instance => JSON::PP::false() },
        { name => 'idle', query => 'max(scaleset_test_load)', operator => '<',
          threshold => 10, for_ms => 1000, change => -1, cooldown_ms => 1000,
          per_instance => JSON::PP::false() },
        { name => 'quiet', query => 'scaleset_test_load', reduce => 'min',
          operator => '<', threshold => 5, for_ms => 0, change => -1,
          cooldown_ms => 0, per_instance => JSON::PP::false() },
    ],
});

my $e = first_eval('rules', sub { $_[0]{rules}{busy}{status} eq 'ok' },
                   what => 'a first evaluation with values');
ok($e && $e->{cap} == 2 && $e->{rules}{busy}{value} == 20,
   'evaluations see the values; no rule fires at 20');

set_metrics(%load, 'scaleset_test_load:a' => 80);
my $seen = first_eval('rules', sub { $_[0]{rules}{busy}{value} == 80 },
                      what => 'load 80 seen');
my $out1 = first_eval('rules', sub { $_[0]{cap} == 4 },
                      what => 'scale out to 4');
ok($seen && $out1, 'high load scales out by the rule\'s step (2 -> 4)');
SKIP: {
    skip 'no scale out', 4 unless $seen && $out1;
    cmp_ok($out1->{ms} - $seen->{ms}, '>=', 1900,
           'not before the for: window (2 s) held');
    is($out1->{prev}, 2, 'from 2');
    my @between = grep { $_->{n} >= $seen->{n} && $_->{n} < $out1->{n} }
                  evals('rules');
    ok(!grep({ $_->{cap} != 2 } @between), 'capacity held during the window');
    my $out2 = first_eval('rules', sub { $_[0]{cap} == 6 },
                          what => 'scale out to 6');
    ok($out2 && $out2->{ms} - $out1->{ms} >= 2900,
       'the next step waits for the cooldown (3 s)')
        or diag explain [$out1, $out2];
}

# low values: idle holds (max < 10) but quiet (min < 5) does not
set_metrics(%load, 'scaleset_test_load:a' => 8, 'scaleset_test_load:b' => 7);
my $low = first_eval('rules', sub { $_[0]{rules}{idle}{value} == 8 },
                     what => 'low load seen');
my $cap_low = $low ? $low->{cap} : 0;
sleep 2;
my @after = grep { $_->{n} >= ($low ? $low->{n} : 0) } evals('rules');
ok(@after >= 4 && !grep({ $_->{cap} < $cap_low } @after),
   'no scale in while only some in-rules hold')
    or diag explain \@after;
ok((grep { $_->{rules}{idle}{fired} } @after),
   'idle fired alone, without effect');

set_metrics(%load, 'scaleset_test_load:a' => 8, 'scaleset_test_load:b' => 1);
my $in = first_eval('rules', sub { $_[0]{cap} == $cap_low - 1 },
                    what => 'scale in');
ok($in && $in->{dir} eq 'in', 'all in-rules hold: scale in by one');

# prometheus gone: no action, logged once per rule, counted
my $before = (evals('rules'))[-1];
$t->kill_server('prometheus', 'KILL');
my $dead = first_eval('rules', sub {
    $_[0]{rules}{busy}{status} eq 'unreachable' }, what => 'unreachable');
ok($dead, 'prometheus killed: the rules see unreachable');
sleep 1.5;
my @dead = grep { $dead && $_->{n} >= $dead->{n} } evals('rules');
ok(@dead >= 3, 'evaluations go on');
ok(!grep({ $_->{cap} != $dead->{cap} || $_->{dir} ne 'none' } @dead),
   'no action while prometheus is unreachable');
cmp_ok($dead[-1]{rules}{idle}{errors}, '>', $dead[0]{rules}{idle}{errors},
       'the error count rises');
my @logged = $t->log('rules') =~ /^log 4 pool=web rule idle: no value \(unreachable/mg;
is(scalar @logged, 1, 'logged once, not per evaluation');

$t->signal('rules', 'USR1');
ok($t->wait_for(sub { $t->log('rules') =~ /^metrics-end$/m }, timeout => 5,
                what => 'metrics'), 'metrics written');
my $m = $t->log('rules');
like($m, qr/^scaleset_scaler_metric_errors_total\{pool="web",rule="busy",kind="unreachable"\} [1-9]/m,
     'metric_errors_total{kind="unreachable"} counts');
like($m, qr/^scaleset_scaler_scaling_actions_total\{pool="web",rule="busy",direction="out"\} 2$/m,
     'scaling_actions_total: two scale-outs by busy');
like($m, qr/^scaleset_scaler_rule_value\{pool="web",rule="busy"\} NaN$/m,
     'rule_value is NaN without data');
$t->stop('rules');

# --- flapping and a schedule window, on a fresh prometheus ---
{
    my $p2 = $t->start_prometheus(name => 'prom2',
                                  scrape => ["127.0.0.1:$mport"],
                                  interval => '500ms');
    $url = "http://127.0.0.1:$p2->{port}";
    set_metrics('scaleset_test_load:a' => 40, 'scaleset_test_load:b' => 40,
                'scaleset_test_idle' => 0);
    ok($t->wait_for(sub {
            my $d = $t->prom_query('scaleset_test_load', name => 'prom2');
            $d && @{ $d->{result} } == 2 }, timeout => 20,
            what => 'prom2 scrapes'), 'second prometheus scrapes');

    start_loop('flap', {
        capacity => [1, 10, 1], current => 4,
        rules => [
            { name => 'busy', query => 'scaleset_test_load', reduce => 'avg',
              operator => '>', threshold => 50, for_ms => 0, change => 1,
              cooldown_ms => 0 },
            { name => 'idle', query => 'scaleset_test_idle', operator => '<',
              threshold => 1, for_ms => 0, change => -3, cooldown_ms => 0,
              per_instance => JSON::PP::false() },
        ],
    });
    start_loop('sched', {
        capacity => [1, 10, 2], current => 2,
        fixed => [ { name => 'window', start_in_ms => 3000,
                     end_in_ms => 6000, capacity => [5, 8, 5] } ],
        rules => [],
    });

    my $skip = first_eval('flap', sub { $_[0]{flap} == 2 },
                          what => 'flapping skip');
    ok($skip && $skip->{cap} == 4,
       'avg 40 on 4 would be 53.3 on 3: scale-in skipped (flapping)');
    like($t->log('flap'), qr/^log 6 pool=web 4 -> 4: flapping: scale-in skipped/m,
         'the skip is logged');

    set_metrics('scaleset_test_load:a' => 30, 'scaleset_test_load:b' => 30,
                'scaleset_test_idle' => 0);
    my $part = first_eval('flap', sub { $_[0]{flap} == 1 },
                          what => 'partial scale-in');
    ok($part && $part->{prev} == 4 && $part->{cap} == 3,
       'avg 30: partial scale-in 4 -> 3 instead of 1 (2 would be 60)');

    my $in_window = first_eval('sched', sub { $_[0]{profile} eq 'window' },
                               what => 'window profile');
    ok($in_window && $in_window->{cap} == 5,
       'a fixed-date window clamps capacity to its min at once');
    my @before = grep { $in_window && $_->{n} < $in_window->{n} }
                 evals('sched');
    ok(@before && !grep({ $_->{cap} != 2 } @before),
       'before the window: the default profile, capacity 2');
    my $after = first_eval('sched', sub {
        $in_window && $_[0]{n} > $in_window->{n}
        && $_[0]{profile} eq 'default' }, what => 'window over');
    ok($after && $after->{cap} == 5,
       'after the window: default bounds, capacity kept');
    cmp_ok($after->{ms} - $in_window->{ms}, '>=', 2000,
           'the window lasted about 3 s') if $after;
}

$t->done;
