#!/usr/bin/perl
# ha: { lease }: two scalers on one configuration, one Redis and one
# hypervisor (libvirt's test driver served by a libvirtd of the test's, so
# that both see the same domains; tools/guestsim plays the guests).
#
#   - one leads, the other stands by: capacity 5 gives exactly 5
#     instances; the standby answers reads from what it observes and
#     refuses writes with 503 naming the leader; GET /v1/ha, the metrics
#     and scalesetctl ha say who leads;
#   - kill -9 of the leader during a scale-out: the standby takes over
#     within 2 x lease and converges, no instance id is used twice, no
#     domain is left that is not a member;
#   - SIGSTOP of the leader in the middle of a pass (blocked on a
#     readiness check, with a write planned after it) past its lease: the
#     other takes over and converges; SIGCONT: the paused one's late write
#     is refused by the fence, the members hash and the epoch are as the
#     new leader left them, and it stands by;
#   - SIGTERM of the leader releases the lease: the other takes over at
#     its next attempt, not a lease later.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Select;
use IO::Socket::INET;
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;

my $LEASE = 2;                  # seconds
my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $redis = $t->redis;
my $lv = Scaleset::Libvirtd->start_test_driver($t, name => 'lvt');
my $uri = $lv->uri;

sub scaler {
    my ($name) = @_;
    return Scaleset::Scaler->new($t, name => $name, api_port => "api_$name",
        interval => '200ms', top_extra => "ha: { lease: ${LEASE}s }\n",
        pools => [ { name => 'web', capacity => [0, 20, 0],
                     zones => [['z1', $uri], ['z2', $uri]],
                     cidr => '127.0.79.0/24', port => $t->port('guest'),
                     extra => "    health: { uri: /healthz, timeout: 5s }\n" } ]);
}
my %sc = (a => scaler('a'), b => scaler('b'));
sub ha { my ($n) = @_; my ($c, $b) = $sc{$n}->api('GET', '/v1/ha'); $c == 200 ? $b : {} }
sub pool { my ($n) = @_; my ($c, $b) = $sc{$n}->api('GET', '/v1/pools/web'); $c == 200 ? $b : {} }
sub url { 'http://127.0.0.1:' . $t->port("api_$_[0]") }
sub members { my %m = $redis->hgetall('scaleset:{web}:members'); \%m }
sub epoch { $redis->get('scaleset:{web}:epoch') // 0 }
sub web_domains { sort grep { /^web-/ } $lv->domains }
sub metric {
    my ($n, $re) = @_;
    my (undef, $m) = $sc{$n}->api('GET', '/metrics');
    return ($m // '') =~ /^$re (\S+)$/m ? $1 : undef;
}
sub leads { my $h = ha($_[0]); $h->{leader} && $h->{ready} }
sub converged {
    my ($n, $cap) = @_;
    my $p = pool($n);
    my @d = web_domains();
    my $m = members();
    return ($p->{running} // -1) == $cap && @d == $cap && keys %$m == $cap
           && !grep { !exists $m->{$_} } @d;
}

$sc{a}->start;
ok($t->wait_for(sub { leads('a') }, timeout => 10, what => 'a leads'),
   'the first scaler takes the lease');
$sc{b}->start;
ok($t->wait_for(sub { ha('b')->{enabled} && !ha('b')->{leader}
                      && (ha('b')->{leader_url} // '') eq url('a') },
                timeout => 10, what => 'b stands by'),
   'the second stands by and knows the leader');
is($redis->get('scaleset:scaler:lease') =~ /^[0-9a-f]{32} (\S+)$/ ? $1 : '',
   url('a'), 'the lease holds a token and the leader\'s URL');
mkdir "$dir/gs";
# the guests, following a scaler's API (the standby's: it observes them
# too); guestsim asks one scaler, which must not be the one stopped below
sub guests {
    my ($n) = @_;
    $t->stop('guestsim');
    $t->spawn(name => 'guestsim', cmd => [$^X, $t->root . '/tools/guestsim',
        '--api', url($n), '--pool', 'web', '--control', "$dir/gs",
        '--interval', '0.1'], wait => sub { 1 });
}
guests('b');

# --- one acts ----------------------------------------------------------------
my ($code, $body) = $sc{b}->api('PUT', '/v1/pools/web/capacity', { capacity => 5 });
is($code, 503, 'the standby refuses a write');
is($body->{leader_url}, url('a'), 'naming the leader');
like($body->{error}, qr/standby: writes go to the leader at \Q${\ url('a')}\E/,
     'in its error too');
($code) = $sc{a}->api('PUT', '/v1/pools/web/capacity', { capacity => 5 });
is($code, 200, 'the leader takes it');
ok($t->wait_for(sub { converged('a', 5) }, timeout => 20, what => '5 running'),
   'capacity 5: 5 instances running, registered, one domain each');
ok($t->wait_for(sub { (pool('b')->{running} // 0) == 5 }, timeout => 10,
                what => 'b sees 5'), 'the standby observes the same 5');
is(pool('b')->{capacity}, 5, 'and the capacity the leader stored');
sleep 1;
my @five = web_domains();
is(scalar @five, 5, 'exactly 5 domains a while later: the standby made none');
is(metric('a', 'scaleset_scaler_ha_leader'), 1, 'metrics: a leads');
is(metric('b', 'scaleset_scaler_ha_leader'), 0, 'metrics: b does not');
my $ctl = qx{@{[ $t->bin('scalesetctl') ]} --api ${\ url('b')} ha 2>&1};
like($ctl, qr/standby.*leader: \Q${\ url('a')}\E/s, 'scalesetctl ha on the standby names the leader')
    or diag $ctl;

# --- kill -9 of the leader during a scale-out ---------------------------------
my %before = map { $_ => 1 } web_domains();
($code) = $sc{a}->api('PUT', '/v1/pools/web/capacity', { capacity => 10 });
is($code, 200, 'scale out to 10');
ok($t->wait_for(sub { grep { !$before{$_} } web_domains() }, timeout => 10,
                interval => 0.005, what => 'the scale-out begins'),
   'the leader starts creating');
my $killed = time;
$t->kill_server('a', 'KILL');
ok($t->wait_for(sub { ha('b')->{leader} }, timeout => 3 * $LEASE,
                interval => 0.02, what => 'b takes over'), 'the standby takes over');
my $took = time - $killed;
cmp_ok($took, '<=', 2 * $LEASE, sprintf('within 2 x lease (%.2fs, lease %ds)',
                                         $took, $LEASE));
ok($t->wait_for(sub { converged('b', 10) }, timeout => 30, what => '10 running'),
   'and converges: 10 instances, each a domain and a member');
my $defined = $lv->defined;
my @twice = grep { $defined->{$_} > 1 } sort keys %$defined;
is_deeply(\@twice, [], 'no instance id was defined twice');
my @created = ($t->log('a') . $t->log('b')) =~ /id=(web-\d+) created in zone/g;
my %n;
$n{$_}++ for @created;
is_deeply([grep { $n{$_} > 1 } sort keys %n], [], 'no id created by both');
my $m = members();
is_deeply([grep { !exists $m->{$_} } web_domains()], [],
          'no orphan domain: every domain is a member');
is_deeply([sort grep { /^web-/ } keys %$defined], [sort keys %{ { %$defined } }],
          'every domain defined is a pool instance');

# --- SIGSTOP of the leader mid-pass, past its lease --------------------------
$sc{a}->start;                  # a new process, standing by
ok($t->wait_for(sub { (ha('a')->{leader_url} // '') eq url('b') },
                timeout => 10, what => 'a stands by'), 'the restarted one stands by');
ok($t->wait_for(sub { (pool('a')->{instances} // 0) == 10 }, timeout => 10,
                what => 'a observes'), 'and observes the 10');
guests('a');
my ($x) = sort keys %{ members() };
my $xaddr = members()->{$x} =~ /^(\S+)/ ? $1 : die;
# x stops answering its readiness check in time and is unregistered (as an
# operator might), and a stray member appears: b's next pass reads both,
# then waits for x's check, with the stray's removal planned after it
$t->write_file("gs/$x", "slow 30\n");
# no answer to /healthz within half a second: guestsim has the switch
sub healthz_slow {
    my ($addr) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 1) or return 0;
    print $c "GET /healthz HTTP/1.0\r\n\r\n";
    my $sel = IO::Select->new($c);
    my $slow = !$sel->can_read(0.5);
    close $c;
    return $slow;
}
ok($t->wait_for(sub { healthz_slow($xaddr) }, timeout => 10, what => 'x slow'),
   "$x answers its readiness check no more in time");
$redis->multi;
$redis->hdel('scaleset:{web}:members', $x);
$redis->hset('scaleset:{web}:members', 'web-999999', '127.0.79.250:' . $t->port('guest')
             . ' zone=z1 version=1');
$redis->incr('scaleset:{web}:epoch');
$redis->exec;
my $bpid = $t->pid('b');
ok($t->wait_for(sub { qx{ss -Htnp state established dst $xaddr 2>/dev/null} =~ /pid=$bpid,/ },
                timeout => 10, interval => 0.005, what => 'b checking x'),
   "the leader's pass is waiting for ${x}'s readiness check");
$t->signal('b', 'STOP');
my $stopped = time;
unlink "$dir/gs/$x";            # x answers again
ok($t->wait_for(sub { leads('a') }, timeout => 3 * $LEASE, interval => 0.02,
                what => 'a takes over'), 'the other takes over');
cmp_ok(time - $stopped, '<=', 2 * $LEASE + 1, sprintf('within 2 x lease of the stop (%.2fs)',
                                                 time - $stopped));
ok($t->wait_for(sub { my $m = members(); exists $m->{$x} && !exists $m->{'web-999999'} },
                timeout => 20, what => 'a repairs'),
   'the new leader registers x again and removes the stray');
my ($snap, $e0);
ok($t->wait_for(sub {
        my ($m1, $e1) = (join(',', map { "$_=" . members()->{$_} } sort keys %{ members() }), epoch());
        sleep 0.5;
        my ($m2, $e2) = (join(',', map { "$_=" . members()->{$_} } sort keys %{ members() }), epoch());
        ($snap, $e0) = ($m2, $e2);
        $m1 eq $m2 && $e1 == $e2;
    }, timeout => 10, what => 'stable'), 'and leaves them stable');
my $mark = length($t->log('b') // '');
$t->signal('b', 'CONT');
ok($t->wait_for(sub { substr($t->log('b'), $mark) =~ /id=web-999999 deregister failed: redis: FENCED/ },
                timeout => 10, what => 'fenced'),
   'woken, the old leader\'s planned write is refused by the fence')
    or diag substr($t->log('b'), $mark);
like(substr($t->log('b'), $mark), qr/the lease is lost: the pass stops/,
     'and its pass stops writing');
ok($t->wait_for(sub { !ha('b')->{leader} && (ha('b')->{leader_url} // '') eq url('a') },
                timeout => 5, what => 'b stands by'), 'it stands by, naming the new leader');
sleep 1;
is(epoch(), $e0, 'the epoch is as the new leader left it');
is(join(',', map { "$_=" . members()->{$_} } sort keys %{ members() }), $snap,
   'and so are the members');
cmp_ok(metric('b', 'scaleset_scaler_errors_total\{pool="web",kind="fenced"\}') // 0, '>=', 1,
       'errors_total{kind="fenced"} counts the refusal');
cmp_ok(metric('b', 'scaleset_scaler_ha_leases_lost_total') // 0, '>=', 1,
       'and ha_leases_lost_total the lease lost');
ok(converged('a', 10), 'the pool is still 10');

# --- a reload keeps the lease ----------------------------------------------------
my $taken = ha('a')->{leases_taken};
$mark = length($t->log('a') // '');
$t->signal('a', 'HUP');
ok($t->wait_for(sub { substr($t->log('a'), $mark) =~ /configuration reloaded/ },
                timeout => 10, what => 'reloaded'), 'the leader reloads');
sleep 0.5;
ok(leads('a') && ha('a')->{leases_taken} == $taken,
   'and keeps leading on the same lease');
unlike(substr($t->log('a'), $mark), qr/ha: (standing by|lease released)/,
       'without giving it up');

# --- SIGTERM releases the lease -----------------------------------------------
my $term = time;
$t->stop('a');
like($t->log('a'), qr/ha: lease released/, 'a stopping leader releases the lease');
ok($t->wait_for(sub { leads('b') }, timeout => 2 * $LEASE, interval => 0.02,
                what => 'b takes over'), 'the standby takes over');
cmp_ok(time - $term, '<', $LEASE, sprintf('before a lease could expire (%.2fs)', time - $term));

$t->done;
