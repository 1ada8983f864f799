#!/usr/bin/perl
# conf-examples/grafana-dashboard.json: valid JSON in the shape Grafana
# imports (a dashboard object with a title, uid, schemaVersion, panels with
# unique ids and grid positions, a Prometheus datasource input), every
# query's metric names among those the gateway and the scaler export
# (read from the C sources by t/lib/Scaleset/Sources.pm), every exported
# family shown somewhere, and every query accepted by a real Prometheus'
# parser (promtool's PromQL check through the test's own rule file).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Scaleset::Sources qw(metrics slurp);
use Scaleset::Test;

my $root = "$FindBin::Bin/..";
my $file = "$root/conf-examples/grafana-dashboard.json";
my $d = eval { JSON::PP->new->decode(slurp($file)) };
ok($d, 'valid JSON') or BAIL_OUT("grafana-dashboard.json: $@");

is(ref $d, 'HASH', 'a dashboard object');
ok($d->{title} && $d->{uid}, "title \"$d->{title}\" and uid \"$d->{uid}\"");
cmp_ok($d->{schemaVersion} // 0, '>=', 36, "schemaVersion $d->{schemaVersion} (Grafana 9+)");
my ($input) = grep { $_->{type} eq 'datasource' && $_->{pluginId} eq 'prometheus' }
              @{ $d->{__inputs} || [] };
ok($input, 'a Prometheus datasource input for import');

my @panels = map { $_, @{ $_->{panels} || [] } } @{ $d->{panels} || [] };
cmp_ok(scalar @panels, '>=', 10, scalar(@panels) . ' panels');
my (%ids, @exprs);
for my $p (@panels) {
    ok(!$ids{ $p->{id} }++, "panel id $p->{id} unique ($p->{title})");
    my $g = $p->{gridPos} || {};
    ok(defined $g->{x} && defined $g->{y} && $g->{w} && $g->{h}
       && $g->{x} + $g->{w} <= 24, "panel $p->{title}: grid position inside 24 columns");
    next if $p->{type} eq 'row';
    ok(@{ $p->{targets} || [] }, "panel $p->{title}: has queries");
    for my $tg (@{ $p->{targets} || [] }) {
        ok(defined $tg->{expr} && length $tg->{expr}, "panel $p->{title} $tg->{refId}: an expression");
        is($tg->{datasource}{uid}, '${' . $input->{name} . '}',
           "panel $p->{title} $tg->{refId}: the imported datasource");
        push @exprs, [ $p->{title}, $tg->{expr} ];
    }
}
for my $v (@{ $d->{templating}{list} || [] }) {
    push @exprs, [ "variable $v->{name}", $v->{definition} =~ s/^label_values\((\w+),.*$/$1/r ]
        if $v->{type} eq 'query';
}

# metric names against the sources
my $exported = metrics(\&ok, $root);
my %used;
for my $e (@exprs) {
    (my $plain = $e->[1]) =~ s/"[^"]*"//g;
    for my $m ($plain =~ /(?<![\w:])(scaleset_\w+)(?![\w:])/g) {
        $used{$m} = 1;
        ok($exported->{$m}, "$e->[0]: $m is exported by the gateway or the scaler");
    }
}
# every family a user could want is on the dashboard
for my $m (sort keys %$exported) {
    next if $m =~ /_(bucket|sum|count)$/ && $exported->{$m} eq 'histogram';
    my $base = $m;
    ok($used{$m} || ($exported->{$m} eq 'histogram' && grep { /^\Q$m\E_/ } keys %used),
       "exported metric $m is on the dashboard");
}

# every query parses as PromQL: promtool checks them as recording rules
# ($__rate_interval and $pool replaced as Grafana would)
Scaleset::Test::_which('promtool') or BAIL_OUT('promtool not found: run make deps');
my $t = Scaleset::Test->new;
my $rules = "groups:\n  - name: grafana\n    rules:\n";
my $n = 0;
for my $e (@exprs) {
    my $q = $e->[1];
    next unless $q =~ /\(|\{|^\w+$/;
    $q =~ s/\$__rate_interval/1m/g;
    $q =~ s/\$pool/.*/g;
    $q =~ s/'/''/g;
    $rules .= "      - record: grafana:q" . $n++ . "\n        expr: '$q'\n";
}
$t->write_file('grafana-rules.yml', $rules);
my $out = qx{promtool check rules @{[ $t->dir ]}/grafana-rules.yml 2>&1};
is($?, 0, "promtool parses all $n queries") or diag $out;

$t->done;
