#!/usr/bin/perl
# Drains that never cut a connection, with two real gateways (two nginx,
# scaleset_gateway_id gw1 and gw2), the real scaler, guestsim and real
# Redis.  Each hole of issue 16 is one scenario, a long request open on
# the instance that drains (guestsim's /slow/N: its head and first line
# at once, the rest N s later; a deleted instance cuts its connections,
# as a powered-off VM does, so a drain that ends too early fails the
# request):
#
#   api      DELETE /v1/pools/web/instances/ID with the request in flight:
#            drained first, deleted once it ended (the old scaler
#            deregistered and deleted at once);
#   pause    CLIENT PAUSE WRITE during the drain: the gateways cannot
#            write their reports, their keys expire (the old scaler
#            summed no reports as no connection: deleted);
#   quiet    one gateway's report expires while it holds the connection
#            (its nginx SIGSTOPped past the key's TTL): still present
#            (drain.gateway_ttl), the drain holds;
#   stale    a report made before the drain started (gw2 reports every
#            5 s: the drain starts right after its report said conns=0)
#            does not count.
#
# Meanwhile a load generator sends short requests through gw2: 0 failed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $r = $t->redis;
my $gport = $t->port('guest');
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    readiness => 'tcp', cidr => '127.0.9.0/24', port => $gport,
    capacity => [0, 4, 2], drain_timeout => '60s' } ]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);

# two gateways: gw1 checks (and reports) every 500 ms, gw2 every 5 s;
# one worker each, so a SIGSTOP stops the one holding the requests
for my $gw (['gw1', '500ms'], ['gw2', '5s']) {
    my ($name, $every) = @$gw;
    $t->start_nginx(name => $name, workers => 1, http => <<"EOF");
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id $name;
    upstream web {
        scaleset web resync=5s balance=least_conn;
        scaleset_health_check uri=/healthz interval=$every timeout=400ms
                              fails=1 passes=1;
    }
    server {
        listen 127.0.0.1:%%PORT_${name}%%;
        location / {
            proxy_pass http://web;
            proxy_next_upstream error timeout;
        }
        location /slow/ {
            proxy_pass http://web;
            proxy_next_upstream off;
            proxy_read_timeout 90s;
        }
        location = /status { scaleset_status; }
    }
EOF
}

# members the gateway name serves (up), by id
sub up_in {
    my ($gw) = @_;
    my $st = $t->gateway_status($gw);
    return { map { $_->{id} => $_ } grep { $_->{health} eq 'up' }
             @{ $st->{pools}{web}{members} // [] } };
}

# waits until both gateways serve exactly the instances ids
sub serving {
    my (@ids) = @_;
    return $t->wait_for(sub {
        for my $gw (qw(gw1 gw2)) {
            my $up = up_in($gw);
            return 0 unless keys %$up == @ids && !grep { !$up->{$_} } @ids;
        }
        1;
    }, timeout => 30, what => "@ids up in both gateways");
}

# a long request through gateway gw, in a process of its own: its
# outcome ("200 BODY" or "599 why") is in NAME.out when it ends
my $nreq = 0;
sub long_request {
    my ($gw, $secs) = @_;
    my $name = 'req' . ++$nreq;
    $t->spawn(name => $name, cmd => [$^X, '-MHTTP::Tiny', '-e', <<'EOF',
# POST: HTTP::Tiny retries a GET cut short, once
my $res = HTTP::Tiny->new(timeout => 120)->post($ARGV[0]);
open my $f, '>', "$ARGV[1].tmp" or die;
print $f "$res->{status} $res->{content}";
close $f;
rename "$ARGV[1].tmp", $ARGV[1];
EOF
        'http://127.0.0.1:' . $t->port($gw) . "/slow/$secs",
        "$dir/$name.out"]);
    return $name;
}

sub outcome {
    my ($name) = @_;
    return $t->read_file("$name.out");
}

# both requests open on gateway gw: one on each instance (least_conn)
# ($n requests open on each: 1, or 0 for none)
sub open_on {
    my ($gw, $n, @ids) = @_;
    return $t->wait_for(sub {
        my $st = $t->gateway_status($gw);
        my %a = map { $_->{id} => $_->{active} }
                @{ $st->{pools}{web}{members} // [] };
        !grep { ($a{$_} // 0) != $n } @ids;
    }, timeout => 10, what => "$n request(s) open on each of @ids via $gw");
}

# the time the scaler logged id's deletion, from the log order: checked
# against the requests' ends by polling
sub deleted { $t->log('scaler') =~ /id=\Q$_[0]\E deleted/ }

# one scenario: two long requests through gw, then $start->() begins the
# drain of $id (and $during->() runs); both requests must end whole, and
# $id must be deleted only after they did
sub scenario {
    my (%o) = @_;
    my ($name, $gw, $id, $secs) = @o{qw(name gw id secs)};
    my @ids = @{ $o{ids} };
    ok(serving(@ids), "$name: @ids serve through both gateways");
    $o{before}->() if $o{before};
    # least_conn spreads the two only from a level start: a request of an
    # earlier scenario still open on one (a slow end under load) would
    # send both to the other
    ok(open_on($gw, 0, @ids), "$name: no request open on @ids via $gw");
    my @req = map { long_request($gw, $secs) } 1 .. 2;
    ok(open_on($gw, 1, @ids), "$name: a long request open on each");
    my $t0 = time;
    $o{start}->();
    ok($t->wait_for(sub { ($s->members('web')->{$id} // '') =~ /\bdrain\b/
                          || !exists $s->members('web')->{$id} },
                    timeout => 5, what => "$id drains"),
       "$name: $id drains");
    $o{during}->() if $o{during};
    my $early;
    ok($t->wait_for(sub {
        my $done = !grep { !defined outcome($_) } @req;
        $early //= deleted($id) && !$done ? time - $t0 : undef;
        $done;
    }, timeout => $secs + 30, interval => 0.05, what => 'the requests end'),
       "$name: the requests end");
    ok(!defined $early, "$name: $id not deleted while a request was open"
                        . (defined $early ? sprintf(' (it was, %.1f s '
                           . 'into the drain)', $early) : ''));
    for my $q (@req) {
        like(outcome($q) // '', qr/^200 \S+\ndone\n\z/,
             "$name: $q got its whole answer");
    }
    ok($t->wait_for(sub { deleted($id) }, timeout => 15,
                    what => "$id deleted"),
       "$name: $id deleted once the connections ended");
    unlike($t->log('scaler'), qr/id=\Q$id\E deleted \(drain_timeout/,
           "$name: before drain_timeout");
}

# short requests all along, once there is a pool to serve them
ok(serving(qw(web-000001 web-000002)), 'the pool serves');
$t->start_loadgen(port => 'gw2', rate => 20);

scenario(name => 'api', gw => 'gw1', secs => 3,
         ids => [qw(web-000001 web-000002)], id => 'web-000002',
         start => sub {
             my ($code) = $s->api('DELETE', '/v1/pools/web/instances/'
                                            . 'web-000002');
             is($code, 202, 'api: DELETE accepted (202)');
         });

scenario(name => 'pause', gw => 'gw1', secs => 8,
         ids => [qw(web-000001 web-000003)], id => 'web-000003',
         start => sub { $s->api('PUT', '/v1/pools/web/capacity',
                                { capacity => 1 }) },
         during => sub {
             # the gateways' writes wait; their keys (3 s) expire
             $t->redis('redis', fresh => 1)->client_pause(5000, 'WRITE');
             sleep 5.5;
         });

$s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
scenario(name => 'quiet', gw => 'gw1', secs => 9,
         ids => [qw(web-000001 web-000004)], id => 'web-000004',
         start => sub { $s->api('PUT', '/v1/pools/web/capacity',
                                { capacity => 1 }) },
         during => sub {
             # gw1 goes quiet with both requests open: past its key's TTL
             my $pid = $t->pid('gw1');
             kill 'STOP', -$pid;
             $t->wait_for(sub { !$r->exists('scaleset:{web}:health:gw1') },
                          timeout => 10, what => "gw1's report expired");
             sleep 1;
             kill 'CONT', -$pid;
         });

$s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
scenario(name => 'stale', gw => 'gw2', secs => 8,
         ids => [qw(web-000001 web-000005)], id => 'web-000005',
         before => sub {
             # right after gw2 wrote its report (conns=0 on both: the
             # requests are opened since), which stays 5 s old news
             my $key = 'scaleset:{web}:health:gw2';
             my $last = $r->pttl($key);
             $t->wait_for(sub { my $p = $r->pttl($key); my $w = $p > $last;
                                $last = $p; $w }, timeout => 10,
                          interval => 0.01, what => 'gw2 reports');
         },
         start => sub { $s->api('PUT', '/v1/pools/web/capacity',
                                { capacity => 1 }) });

$t->stop('loadgen');
my $lg = $t->loadgen_stats;
cmp_ok($lg->{ok} // 0, '>', 100, "load through gw2 ($lg->{ok} requests)");
is($lg->{failed} // -1, 0, 'no short request failed');
$t->done;
