#!/usr/bin/perl
# scaler + gateway: a flexible pool.  Templates small (weight 1) and large
# (weight 2), mix 50/50 by capacity: capacity 8 is 4 small + 2 large, the
# large ones' member records say weight=2, and the gateway shares 1 400
# requests 1:1:1:1:2:2 (each within 5 %); scale-in to 4 keeps the mix (2
# small + 1 large); one more instance by API (a large one in z2: counted
# and listed as manual, outside the capacity, not scaled in); an
# operator's domain of the zone's libvirt adopted by API (tagged,
# registered once it answers, listed as adopted) and removed by API.
# Every part real: Redis, nginx with the module, the scaler on the test
# driver (each zone a node of the test's own, one holding the operator's
# domain), tools/guestsim serving each instance's address.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $dir = $t->dir;
$t->start_redis;
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    scaleset_gateway_id gw1;
    upstream web {
        scaleset web resync=5s;
        scaleset_health_check uri=/healthz interval=300ms timeout=250ms
                              fails=1 passes=1 mandatory;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /status { scaleset_status; }
    }
EOF

# z1's node holds the operator's domain "shop-db" (running, untagged)
$t->write_file('z1.xml', <<'EOF');
<node>
  <domain type='test'>
    <name>shop-db</name>
    <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
    <memory unit='MiB'>64</memory>
    <os><type arch='x86_64'>hvm</type></os>
  </domain>
</node>
EOF
$t->write_file('z2.xml', "<node/>\n");
my $gport = $t->port('guest');
my $s = Scaleset::Scaler->new($t, interval => '200ms',
    pools => [ { name => 'web', capacity => [0, 20, 0],
                 zones => [['z1', "test://$dir/z1.xml"],
                           ['z2', "test://$dir/z2.xml"]],
                 cidr => '127.0.88.0/24', port => $gport,
                 readiness => 'tcp',
                 templates => "    templates:\n"
                   . "      - { name: small, domain: $dir/dom.xml, weight: 1 }\n"
                   . "      - { name: large, domain: $dir/dom.xml, weight: 2 }\n"
                   . "    mix: { small: 50, large: 50 }\n" } ]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);

sub instances {
    my ($c, $j) = $s->api('GET', '/v1/pools/web/instances');
    return $c == 200 ? { map { $_->{id} => $_ } @{ $j->{instances} } } : {};
}
sub up_members {
    my $st = $t->gateway_status('http', '/status');
    return { map { $_->{id} => $_->{state} }
             @{ $st->{pools}{web}{members} // [] } };
}
sub all_up {
    my ($n) = @_;
    my $m = up_members();
    return (grep { $_ eq 'up' } values %$m) == $n && keys %$m == $n;
}
sub by_template {
    my $i = instances();
    my %n;
    $n{ $_->{template} }++ for grep { $_->{state} ne 'deleting' } values %$i;
    return \%n;
}

# --- capacity 8 at 50/50: 4 small + 2 large ----------------------------------

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 8 });
is($code, 200, 'capacity 8 (weight units)');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 6 }, timeout => 20,
                what => '6 members'), 'six instances registered');
is_deeply(by_template(), { small => 4, large => 2 }, '4 small + 2 large');
my $m = $s->members('web');
my $inst = instances();
my %weight;
for my $id (sort keys %$m) {
    my $tmpl = $inst->{$id}{template};
    $weight{$id} = $tmpl eq 'large' ? 2 : 1;
    if ($tmpl eq 'large') {
        like($m->{$id}, qr/ weight=2 /, "$id (large): weight=2 in its record");
    } else {
        unlike($m->{$id}, qr/weight=/, "$id (small): weight 1 (the default)");
    }
    is($inst->{$id}{weight}, $weight{$id}, "$id: weight in the API");
    is($inst->{$id}{origin}, 'scaled', "$id: origin scaled");
}
my %zones;
$zones{ $inst->{$_}{zone} } += $weight{$_} for keys %$m;
is_deeply(\%zones, { z1 => 4, z2 => 4 }, 'the zones even by units');

ok($t->wait_for(sub { all_up(6) }, timeout => 20, what => '6 up'),
   'all six up in the gateway');

# --- the gateway shares requests by weight ----------------------------------

my %got;
my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
my $port = $t->port('http');
my $fails = 0;
for (1 .. 1400) {
    my $r = $ua->get("http://127.0.0.1:$port/");
    if ($r->{status} == 200) {
        # guestsim's page: "ID version=V"
        my ($id) = $r->{content} =~ /^(\S+)/;
        $got{$id // ''}++;
    } else {
        $fails++;
    }
}
is($fails, 0, '1 400 requests, none failed');
for my $id (sort keys %weight) {
    my $want = 1400 * $weight{$id} / 8;
    my $n = $got{$id} // 0;
    ok(abs($n - $want) <= 0.05 * $want,
       "$id (weight $weight{$id}): $n of 1 400, want $want within 5 %");
}

# --- scale in to 4: the mix is kept ------------------------------------------

($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 4 });
is($code, 200, 'capacity 4');
ok($t->wait_for(sub { keys %{ $s->members('web') } == 3
                      && keys %{ instances() } == 3 },
                timeout => 20, what => '3 instances'), 'three left');
is_deeply(by_template(), { small => 2, large => 1 },
          '2 small + 1 large: the mix kept');

# --- one more by hand ----------------------------------------------------------

my ($c2, $body) = $s->api('POST', '/v1/pools/web/instances',
                          { template => 'large', zone => 'z2' });
is($c2, 202, 'POST instances: accepted');
is($body->{origin}, 'manual', 'as manual');
my $manual;
ok($t->wait_for(sub {
        ($manual) = grep { $_->{origin} eq 'manual' } values %{ instances() };
        $manual && exists $s->members('web')->{ $manual->{id} };
    }, timeout => 20, what => 'the manual instance registered'),
   'the instance added by hand is registered');
is($manual->{template}, 'large', 'of template large');
is($manual->{zone}, 'z2', 'in zone z2');
like($s->members('web')->{ $manual->{id} }, qr/ weight=2 /,
     'with its weight');
select undef, undef, undef, 1;
is(scalar(keys %{ instances() }), 4, 'outside the capacity: nothing scaled '
   . 'in for it');
is_deeply(by_template(), { small => 2, large => 2 }, 'counted');

($c2, $body) = $s->api('POST', '/v1/pools/web/instances',
                       { template => 'huge' });
is($c2, 400, 'an unknown template is refused');
like($body->{error}, qr/no template "huge"/, 'saying which');
($c2, $body) = $s->api('POST', '/v1/pools/web/instances', { zone => 'z9' });
is($c2, 400, 'an unknown zone is refused');

# --- an operator's domain adopted ---------------------------------------------

my $shop = "127.0.88.200:$gport";
($c2, $body) = $s->api('POST', '/v1/pools/web/instances/adopt',
                       { domain => 'shop-db', zone => 'z1' });
is($c2, 400, 'adopt without an address in mode static is refused');
($c2, $body) = $s->api('POST', '/v1/pools/web/instances/adopt',
                       { domain => 'shop-db', zone => 'z1',
                         address => $shop, template => 'small' });
is($c2, 202, 'POST adopt: accepted') or diag explain $body;
ok($t->wait_for(sub { exists $s->members('web')->{'shop-db'} }, timeout => 20,
                what => 'shop-db registered'),
   'the adopted domain is registered once it answers');
like($s->members('web')->{'shop-db'}, qr/^\Q$shop\E /, 'at its address');
is(instances()->{'shop-db'}{origin}, 'adopted', 'listed as adopted');
like($t->log('scaler'), qr/id=shop-db adopted in zone z1 at \Q$shop\E/,
     'logged');
($c2, $body) = $s->api('POST', '/v1/pools/web/instances/adopt',
                       { domain => 'shop-db', zone => 'z1',
                         address => $shop });
is($c2, 409, 'adopting it again: conflict');
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
ok($t->wait_for(sub { keys %{ instances() } == 4 }, timeout => 20,
                what => '4 instances'), 'scale-in to 2');
ok(exists instances()->{'shop-db'}, 'never takes the adopted domain');
ok(exists instances()->{ $manual->{id} }, 'nor the one added by hand');

($c2) = $s->api('DELETE', '/v1/pools/web/instances/shop-db');
is($c2, 202, 'removed by API (accepted: drained, then deleted)');
ok($t->wait_for(sub { !exists instances()->{'shop-db'}
                      && !exists $s->members('web')->{'shop-db'} },
                timeout => 20, what => 'shop-db gone'), 'then it goes');
$t->done;
