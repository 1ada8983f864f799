#!/usr/bin/perl
# scaler: /metrics is valid Prometheus exposition, as promtool checks it
# (HELP and TYPE once per family, each family's samples together, no lint
# problem), on a scaler with two pools, running instances, rules (their
# Prometheus unreachable: error counters move) and a schedule.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IPC::Open3;
use Symbol qw(gensym);
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler promtool)]);
$t->start_redis;
my $closed = $t->port('closed');      # nobody listens there
my $rules = <<"EOF";
    rules:
      - { name: busy, query: 'max(up)', operator: ">", threshold: 50,
          for: 0s, action: { change: 1 }, cooldown: 1s }
      - { name: idle, query: 'max(up)', operator: "<", threshold: 1,
          action: { change: -1 } }
    schedules:
      - { name: weekdays, cron: "0 8 * * 1-5", until: "0 18 * * 1-5",
          timezone: Europe/Berlin, capacity: { min: 1, max: 4 } }
EOF
my $s = Scaleset::Scaler->new($t, interval => '200ms',
    top_extra => "prometheus: { url: \"http://127.0.0.1:$closed\", "
               . "timeout: 200ms }\n",
    pools => [ { name => 'web', capacity => [1, 4, 2], extra => $rules },
               { name => 'api', capacity => [0, 3, 1],
                 zones => [['z1', 'test:///default'],
                           ['z2', 'test:///default']],
                 cidr => '127.0.2.0/24' } ]);
$s->start;
$t->wait_for(sub { keys %{ $s->members('web') } == 2
                   && keys %{ $s->members('api') } == 1 },
             timeout => 15, what => 'instances registered');

my $text;
$t->wait_for(sub {
    (undef, $text) = $t->http('GET', 'api', '/metrics');
    $text =~ /^scaleset_scaler_metric_errors_total\{[^}]*\} [1-9]/m
}, timeout => 15, what => 'a rule evaluation failed (Prometheus closed)');

for my $fam (qw(capacity_desired capacity_actual instances errors_total
                redis_up repairs_total instance_changes_total
                instance_cpu_seconds_total instance_vcpus
                instance_memory_allocated_bytes instance_memory_used_bytes
                instance_memory_available_bytes
                instance_network_receive_bytes_total
                instance_network_transmit_bytes_total
                instance_disk_read_bytes_total
                instance_disk_written_bytes_total
                rule_value metric_errors_total autoscale_bounds
                host_up passes_total pass_seconds_total pass_seconds
                pass_running_seconds
                slow_passes_total)) {
    like($text, qr/^# HELP scaleset_scaler_$fam \S/m, "HELP for $fam");
    like($text, qr/^# TYPE scaleset_scaler_$fam (gauge|counter)$/m,
         "TYPE for $fam");
}

my %help;
$help{$1}++ while $text =~ /^# HELP (\S+)/mg;
is(join(' ', grep { $help{$_} > 1 } sort keys %help), '',
   'no family has two HELP lines');

# every family's samples follow its TYPE line, none elsewhere
my ($cur, %done, @scattered);
for my $l (split /\n/, $text) {
    if ($l =~ /^# TYPE (\S+)/) { $done{$cur} = 1 if $cur; $cur = $1; next }
    next if $l =~ /^#/ || $l eq '';
    my ($name) = $l =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)/;
    push @scattered, $l if !defined $cur || $name ne $cur || $done{$name};
}
is(join("\n", @scattered), '', 'every sample right after its family');

like($text, qr/^scaleset_scaler_capacity_actual\{pool="api",zone="z2"\} \d+$/m,
     'a zone label of the second pool');

# promtool reads the exposition on stdin
my $err = gensym;
my $pid = open3(my $in, my $out, $err, 'promtool', 'check', 'metrics');
print $in $text;
close $in;
my $report = do { local $/; my $o = <$out> // ''; my $e = <$err> // ''; "$o$e" };
waitpid $pid, 0;
is($? >> 8, 0, 'promtool check metrics exits 0');
is($report, '', 'promtool check metrics reports nothing') or diag $text;

$t->done;
