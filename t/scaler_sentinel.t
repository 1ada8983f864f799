#!/usr/bin/perl
# redis.sentinel: one master, one replica, three sentinels (Debian's
# redis-sentinel; the first address the scaler lists is dead).  The
# scaler finds the master through them and registers its instances there;
# a gateway on the same sentinels serves them (tools/guestsim plays the
# guests) under load.  The master is killed: no request fails, the scaler
# follows the failover (its passes and the loop's writes), and the
# instance it adds after the failover is written to the new master and
# reaches the gateway, which serves it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
$t->start_redis(name => 'm');
$t->start_redis(name => 'r', replicaof => 'm');
my $rr = $t->redis('r');
ok($t->wait_for(sub { ($rr->info('replication')->{master_link_status} // '') eq 'up' },
                timeout => 10, what => 'replication'), 'the replica follows the master');
my @s = $t->start_sentinels(monitor => 'm', master => 'mymaster',
                            down_after => 1000, failover_timeout => 5000);
is(scalar @s, 3, 'three sentinels see each other and the replica');
my $dead = $t->port('dead');
my $maddr = '127.0.0.1:' . $t->port('m');
my $raddr = '127.0.0.1:' . $t->port('r');

my $sentinels = join ', ', map { '"127.0.0.1:' . $t->port($_) . '"' } 'dead', @s;
my $sc = Scaleset::Scaler->new($t, interval => '200ms',
    redis => "sentinel: { master: mymaster, addresses: [$sentinels] }",
    pools => [ { name => 'web', capacity => [0, 5, 2],
                 cidr => '127.0.78.0/24', port => $t->port('guest'),
                 readiness => 'tcp' } ]);
$sc->start;
mkdir "$dir/guestsim";
$sc->guestsim("$dir/guestsim");

$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis sentinel=mymaster 127.0.0.1:%%PORT_s1%%
                   127.0.0.1:%%PORT_s2%% 127.0.0.1:%%PORT_s3%% timeout=1s;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=1s;
        scaleset_health_check interval=300ms timeout=200ms passes=1;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; proxy_next_upstream error timeout; }
        location = /status { scaleset_status; }
    }
EOF

sub members_at {
    my ($name) = @_;
    my $r = $t->redis($name, fresh => 1);
    my %m = $r->hgetall('scaleset:{web}:members');
    return \%m;
}
sub up_in_gateway {
    my $st = $t->gateway_status // {};
    return { map { $_->{state} eq 'up' ? ($_->{id} => 1) : () }
             @{ $st->{pools}{web}{members} // [] } };
}

ok($t->wait_for(sub { keys %{ members_at('m') } == 2 }, timeout => 15,
                what => '2 members on the master'),
   'the scaler registers on the master the sentinels name');
like($t->log('scaler'), qr/redis master "mymaster" is at \Q$maddr\E \(asked sentinel/,
     'and logs where it is');
like($t->log('scaler'), qr/sentinel 127\.0\.0\.1:$dead \(master "mymaster"\): /,
     'the dead sentinel is passed over');
ok($t->wait_for(sub { keys %{ up_in_gateway() } == 2 }, timeout => 15,
                what => 'gateway serves 2'), 'the gateway serves both instances');

$t->start_loadgen(rate => 100);
ok($t->wait_for(sub { ($t->loadgen_stats->{ok} // 0) > 50 }, what => 'load'),
   'load running through the gateway');

# --- the master dies --------------------------------------------------------
my $t0 = time;
$t->kill_server('m', 'KILL');
ok($t->wait_for(sub { my (undef, $p) = $t->sentinel_master('s2'); ($p // 0) == $t->port('r') },
                timeout => 30, what => 'failover'), 'the sentinels promote the replica');
diag(sprintf 'master killed -> replica promoted: %.1fs', time - $t0);

# a membership change the scaler makes after the failover: the API's
# write (the loop) answers once the scaler knows the new master
my ($code, $body);
ok($t->wait_for(sub { ($code, $body) = $sc->api('PUT', '/v1/pools/web/capacity',
                                                { capacity => 3 });
                      $code == 200 }, timeout => 20, interval => 0.2,
                what => 'capacity stored'),
   'PUT capacity after the failover is stored')
    or diag explain $body;
my $t1 = time;
is($rr->get('scaleset:{web}:capacity'), 3, 'on the new master');
ok($t->wait_for(sub { keys %{ members_at('r') } == 3 }, timeout => 15,
                what => '3 members on the new master'),
   'the scaler\'s passes write the new instance to the new master');
ok($t->wait_for(sub { keys %{ up_in_gateway() } == 3 }, timeout => 15,
                what => 'gateway has 3 up'),
   'the membership change reaches the gateway');
diag(sprintf 'master killed -> scaler-driven change up at the gateway: '
     . '%.2fs (%.2fs after the write)', time - $t0, time - $t1);
my %new = map { $_ => 1 } keys %{ members_at('r') };
my ($added) = grep { !/^web-00000[12]$/ } sort keys %new;
ok($t->wait_for(sub { my (undef, $b) = $t->http_get('http', '/'); ($b // '') =~ /^\Q$added\E/ },
                timeout => 10, what => 'new instance serves'),
   "and its new instance $added serves through it");
like($t->log('scaler'), qr/redis master "mymaster" is at \Q$raddr\E/,
     'the scaler logs the new master');

sleep 1;
$t->stop('loadgen');
my $l = $t->loadgen_stats;
is($l->{failed} // 0, 0, "no failed request through the failover ($l->{ok} answered)")
    or diag explain $l;

$t->done;
