#!/usr/bin/perl
# scaler: the warm pool is refilled in the background (#19.3).  On
# libvirt's test driver served by a libvirtd of the test's, through a
# proxy that holds every virDomainManagedSave call 3 s
# (Scaleset::VirtProxy->delay: the test driver's calls are instant, a real
# guest's managed save takes seconds).  warm_pool { size: 2, state: saved }:
#   - capacity 1 wakes one of the 2 saved warm instances; the refill's new
#     one boots and is parked: its managed save is held;
#   - during that park, capacity 2: the other saved warm instance is woken
#     and registered in well under the held call (< 1 s from the PUT; a
#     pass that waited for the park made it wait up to 3 s);
#   - the held parks end: the warm pool is back at 2 saved, 2 in service,
#     4 domains and no more (the refill never doubled);
#   - capacity 3, and a reload (SIGHUP) while the refill's park is held:
#     the new configuration's pool collects it (logged after the
#     reload), 2 saved, 3 in service, 5 domains; no error counted;
#   - a stop (SIGTERM) while a park is held takes well under the hold.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;
use Scaleset::VirtProxy;

my $DELAY = 3000;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $gport = $t->port('guest');
my $lv = Scaleset::Libvirtd->start_test_driver($t, name => 'lvt');
my $px = Scaleset::VirtProxy->start($t, $lv->uri);

my $s = Scaleset::Scaler->new($t, interval => '200ms', pools => [
    { name => 'web', readiness => 'tcp', cidr => '127.0.83.0/24',
      port => $gport, capacity => [0, 4, 0],
      zones => [['z1', $px->uri]],
      extra => "    warm_pool: { size: 2, state: saved }\n" },
]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);

sub instances {
    my (undef, $j) = $s->api('GET', '/v1/pools/web/instances');
    return ref $j eq 'HASH' ? @{ $j->{instances} } : ();
}
sub saved { grep { $_->{state} eq 'warm' && $_->{power} eq 'saved' } instances() }
sub domains {
    my (undef, $o) = $lv->virsh('list', '--all', '--name');
    return sort grep { /^web-/ } split /\n/, $o;
}

ok($t->wait_for(sub { saved() == 2 }, timeout => 20,
                what => 'two warm instances saved'),
   'capacity 0: the warm pool of 2, saved');

# every park from now on is slow
$px->delay(DOMAIN_MANAGED_SAVE => $DELAY);
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
is($code, 200, 'capacity 1');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 1 }, timeout => 10,
                what => 'one member'), 'one warm instance woken, registered');
# the refill's instance boots and is parked: its managed save held
is($px->held(15), 'DOMAIN_MANAGED_SAVE', "the refill's park is held ${DELAY} ms");
my $held = time;

my $mark = length $t->log('scaler');
my $t0 = time;
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
is($code, 200, 'capacity 2 during the park');
my %seen;
ok($t->wait_for(sub {
        for my $l (split /\n/, substr($t->log('scaler'), $mark)) {
            $seen{$l} //= time - $t0;
        }
        keys %{ $s->members('web') } == 2 }, timeout => 10,
                interval => 0.02, what => 'two members'), 'two members');
diag(sprintf "%.3f %s", $seen{$_}, $_) for sort { $seen{$a} <=> $seen{$b} } keys %seen;
my $took = time - $t0;
cmp_ok($took, '<', 1, sprintf('the scale-out served %.2f s after its PUT, '
       . 'while the park (held %.1f s more) runs', $took,
       $DELAY / 1000 - ($t0 - $held)));
like(substr($t->log('scaler'), $mark), qr/woken from saved \(capacity 2/,
     'by a warm instance woken from its managed save');

# the held parks end; the warm pool refills to 2 and no further
ok($t->wait_for(sub { saved() == 2 && keys %{ $s->members('web') } == 2 },
                timeout => 30, what => '2 saved again, 2 in service'),
   'the warm pool back at 2 saved, 2 in service');
sleep 1;                                  # a few more passes
my @d = domains();
is(scalar @d, 4, "4 domains, none doubled (@d)");
is(scalar(saved()), 2, 'still 2 warm');

# a reload while a park is held: the new configuration's pool collects it
1 while defined $px->held(0.2);           # the parks held so far
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'capacity 3');
is($px->held(15), 'DOMAIN_MANAGED_SAVE', "the refill's park is held again");
$mark = length $t->log('scaler');
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { substr($t->log('scaler'), $mark)
                      =~ /configuration reloaded/ }, timeout => 10,
                what => 'the reload'), 'reloaded during the park');
ok($t->wait_for(sub { saved() == 2 && keys %{ $s->members('web') } == 3 },
                timeout => 30, what => '2 saved, 3 in service'),
   'after the reload: the held park collected, 2 saved, 3 in service');
# (the listing may see it saved a pass before the collection logs it)
ok($t->wait_for(sub { substr($t->log('scaler'), $mark)
                      =~ /configuration reloaded.*parked saved/s },
                timeout => 5, what => 'parked after the reload'),
   'its "parked" logged by the new configuration\'s pass');
is($px->held(0.5), undef, 'and not parked a second time (no other managed '
   . 'save): the call in flight was handed over, not forgotten');
$px->delay(DOMAIN_MANAGED_SAVE => 0);
sleep 1;
@d = domains();
is(scalar @d, 5, "5 domains, none doubled (@d)");
my $log = $t->log('scaler');
my @parked = $log =~ /parked saved/g;
cmp_ok(scalar @parked, '>=', 5, scalar(@parked) . ' parks logged');
unlike($log, qr/failed/, 'no failure logged');
my (undef, $m) = $t->http_get('api', '/metrics');
unlike($m // '', qr/^scaleset_scaler_errors_total\{[^}]*\} [1-9]/m,
       'no error counted');

# a stop (SIGTERM) does not wait for a park in flight
$px->delay(DOMAIN_MANAGED_SAVE => $DELAY);
1 while defined $px->held(0.2);
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 4 });
is($code, 200, 'capacity 4');
is($px->held(15), 'DOMAIN_MANAGED_SAVE', "the refill's park is held");
my $t1 = time;
$t->stop('scaler');
$took = time - $t1;
cmp_ok($took, '<', 2, sprintf('the scaler stopped in %.2f s, not after the '
       . 'held park (%.1f s)', $took, $DELAY / 1000));
$t->done;
