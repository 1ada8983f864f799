#!/usr/bin/perl
# Instance care on real VMs (issue 16's benchmark, the real-VM half of
# bench/instance-care.pl): libvirtd started here, the scaler on
# conf-examples/scaler-qemu.yaml (pool rvm, capacity 1, repair.grace
# GRACE, action replace), the tiny guest (tools/guest-image.sh), Redis and
# nginx with the module (Scaleset::RealVM's gateway, checks every 500 ms).
# Each of ROUNDS rounds, with one guest X serving:
#
#   drain   a long request (the guest's /cgi-bin/slow?SECS: a line a
#           second) through the gateway, alone; then the same with
#           DELETE /v1/pools/rvm/instances/X meanwhile (drained first):
#           the request's time against the plain one, and whether it
#           ended whole; the pool creates Y in X's place;
#   repair  Y's own service turned unhealthy from inside (its switch
#           /cgi-bin/health?fail): the time until a new id Z serves
#           through the gateway (down seen, repair.grace, drain, ACPI
#           shutdown, the replacement's boot and first check).
#
# Medians over the rounds.  Exits 77 where the real-VM tests skip.
# bench-section: realvm-care
#   [ROUNDS=3 GRACE=3 SECS=5] perl bench/realvm-care.pl   (make guest-image)

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(long_outcome machine median row);

my $rounds = $ENV{ROUNDS} // 3;
my $grace = $ENV{GRACE} // 3;
my $secs = $ENV{SECS} // 5;

my $why = Scaleset::Libvirtd->skip_reason;
if ($why) {
    print STDERR "realvm-care: skipped: $why\n";
    exit 77;
}
my $machine = machine();
my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('rvm-');
$lv->purge;
my $tpl = Scaleset::RealVM::template($t, $lv);
my $lo = Scaleset::RealVM::port_range(8) or die "realvm-care: no ports\n";
$t->start_redis;
my $redis = $t->redis;
Scaleset::RealVM::start_gateway($t, 'rvm');
my $conf = $t->write_file('scaler.yaml', Scaleset::RealVM::scaler_yaml(
    $t, $lv, template => $tpl, ports => $lo, drain_timeout => '120s',
    more => { qr/health: \{ uri: \/healthz, timeout: 1s \}/
                  => 'health: { uri: /healthz, timeout: 1s, grace: 120s }',
              qr/scale_in_policy: default/ => "scale_in_policy: default\n"
              . "    repair: { grace: ${grace}s, action: replace }\n"
              . "    termination: { shutdown_timeout: 60s }" }));
$t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
          cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);

sub members { return { $redis->hgetall('scaleset:{rvm}:members') } }

# the id the gateway serves (its page names it), or ''
sub served {
    my ($c, $b) = $t->http_get('http', '/');
    return ($c // 0) == 200 && ($b // '') =~ m{<h1>(rvm-\d+)</h1>} ? $1 : '';
}

# waits for an id other than those in %$not to serve; returns it
sub new_serving {
    my ($not, $what) = @_;
    my $id = '';
    $t->wait_for(sub { $id = served(); $id ne '' && !$not->{$id} },
                 timeout => 300, interval => 0.2, what => $what)
        or die "realvm-care: $what: none\n";
    return $id;
}

# a long request through the gateway, in a process of its own: (status,
# seconds, whole: its body ends with "done")
my $nreq = 0;
sub long_request {
    return Scaleset::Bench::long_request($t, 'req' . ++$nreq, 'GET',
        'http://127.0.0.1:' . $t->port('http') . "/cgi-bin/slow?$secs");
}

sub outcome {
    my ($st, $took, undef, $last) = long_outcome($t, $_[0], $secs + 120);
    return ($st, $took, $last eq 'done');
}

# waits until the gateway reports the request open on $id
sub holding {
    my ($id) = @_;
    $t->wait_for(sub {
        my $st = $t->gateway_status('http', '/scaleset/status');
        grep { $_->{id} eq $id && $_->{active} }
            @{ $st->{pools}{rvm}{members} // [] };
    }, timeout => 10, what => "request open on $id")
        or die "realvm-care: no request open on $id\n";
}

my ($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                      body => '{"capacity":1}');
die "realvm-care: capacity 1: $code\n" unless $code == 200;
my %seen;
my $x = new_serving(\%seen, 'the first guest serving');
my (@plain, @drained, @added, @repair);
my $whole = 0;
for my $r (1 .. $rounds) {
    $seen{$x} = 1;
    # --- drain: a long request, alone and with its instance deleted -----
    my ($st, $took, $ok) = outcome(long_request());
    die "realvm-care: plain request: $st\n" unless $st == 200 && $ok;
    push @plain, $took;

    my ($gone, $name) = ($x, long_request());
    holding($x);
    ($code) = $t->http('DELETE', 'api', "/v1/pools/rvm/instances/$x");
    die "realvm-care: DELETE $x: $code\n" unless $code == 202;
    ($st, $took, $ok) = outcome($name);
    $whole++ if $st == 200 && $ok;
    push @drained, $took;
    push @added, $took - $plain[-1];
    my $y = new_serving(\%seen, "the replacement of $x");
    $seen{$y} = 1;

    # --- repair: unhealthy from inside until its replacement serves -----
    Scaleset::RealVM::guest_switch($t, 'rvm', $y, 'fail')
        or die "realvm-care: $y: switch failed\n";
    my $t0 = time;
    $x = new_serving(\%seen, "the replacement of $y");
    push @repair, time - $t0;
    printf STDERR "round %d: long request %.2f s, %.2f s with %s drained "
        . "(%d, %s); %s unhealthy to %s serving %.1f s\n", $r, $plain[-1],
        $drained[-1], $gone, $st, $ok ? 'whole' : 'cut', $y, $x, $repair[-1];
}
($code) = $t->http('PUT', 'api', '/v1/pools/rvm/capacity',
                   body => '{"capacity":0}');
$t->wait_for(sub { !keys %{ members() } && !grep { /^rvm-/ } $lv->domains },
             timeout => 120, what => 'nothing left')
    or print STDERR "realvm-care: domains left: @{[ $lv->domains ]}\n";
$t->stop_all;

print <<"EOF2";
### Instance care on real VMs (bench/realvm-care.pl)

Machine: $machine.
A libvirtd of its own, qemu TCG guests (the tiny guest of
`tools/guest-image.sh`, `conf-examples/qemu-domain.xml`), the real
scaler (`interval: 500ms`, `repair: { grace: ${grace}s, action: replace
}`, `termination: { shutdown_timeout: 60s }`), one real nginx gateway
(checks every 500 ms, `fails=1`), a real redis-server; capacity 1.
Drain: a ${secs} s request (the guest's `/cgi-bin/slow?$secs`, a line a
second) through the gateway, alone, then with `DELETE
/v1/pools/rvm/instances/ID` of its instance meanwhile. Repair: the
replacement's service turned unhealthy from inside (its switch
`/cgi-bin/health?fail`) until a new id serves through the gateway (the
gateway sees it down, `repair.grace`, the drain, the ACPI shutdown the
guest powers itself off on, the replacement's boot under TCG and its
first passing check). Medians of $rounds rounds.

| | median | rounds |
|---|---|---|
EOF2
row('unhealthy to its replacement serving', '%.1f s', @repair);
row('... of which repair.grace', '%.1f s', ($grace) x $rounds);
row("a ${secs} s request, no drain", '%.2f s', @plain);
row('the same, its instance deleted (drained) meanwhile', '%.2f s',
    @drained);
row('added by the drain', '%+.2f s', @added);
printf <<"EOF2", $whole, $rounds;

Long requests through a drain that ended whole (200, full body): %d of
%d.

Command: `ROUNDS=$rounds GRACE=$grace SECS=$secs perl bench/realvm-care.pl`.
EOF2
exit($whole == $rounds ? 0 : 1);
