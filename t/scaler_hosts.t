#!/usr/bin/perl
# scaler: a zone of two hosts (fault domains), each a libvirtd of its own
# serving libvirt's test driver: instances spread 3/3, the member records
# and the API say which host, scale-in keeps the hosts balanced; one
# host's libvirtd SIGSTOPped: the pass goes on with the other (new
# instances there), the watchdog stays fed; SIGCONT: it is used again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Libvirtd;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my @h = map { Scaleset::Libvirtd->test_host($t, $_) } qw(h1 h2);
# a domain that is no instance: never touched
$t->write_file('other.xml', "<domain type='test'><name>other</name>"
    . "<memory>65536</memory><os><type>hvm</type></os></domain>\n");
my ($rc, $out) = $h[0]->virsh('define', $t->dir . '/other.xml');
is($rc, 0, 'a domain of no pool defined on host 1') or diag $out;
my $s = Scaleset::Scaler->new($t,
    top_extra => "libvirt: { timeout: 2s, keepalive_interval: 1s }\n",
    pools => [ { name => 'web', zones => [['z1', [map { $_->uri } @h]]],
                 capacity => [0, 10, 6] } ]);
$s->notify_socket;
$s->start(env => $s->notify_env(2_000_000));

# the domains of the pool on a host, as its libvirtd has them
sub domains {
    my ($h) = @_;
    my ($rc, $out) = $h->virsh('list', '--all', '--name');
    my @d = sort grep { /^web-/ } split /\s+/, $out;
    return @d;
}
sub ndomains { my @d = domains(@_); return scalar @d }
sub by_host {
    my %n;
    $n{ /host=(\S+)/ ? $1 : 'none' }++ for values %{ $s->members('web') };
    return \%n;
}

$t->wait_for(sub { keys %{ $s->members('web') } == 6 }, timeout => 20,
             what => '6 members');
is_deeply(by_host(), { 'z1-1' => 3, 'z1-2' => 3 },
          'spread 3/3 over the two hosts, named z1-1 and z1-2 in the records');
is(ndomains($h[0]), 3, 'host 1 runs 3 domains');
is(ndomains($h[1]), 3, 'host 2 runs 3 domains');
like($_, qr/^127\.0\.1\.\d+:8080 zone=z1 host=z1-[12] version=1$/,
     'record: zone= the zone, host= the host') for values %{ $s->members('web') };

my ($code, $inst) = $s->api('GET', '/v1/pools/web/instances');
is($code, 200, 'instances');
my %on;
for my $i (@{ $inst->{instances} }) {
    my ($hi) = grep { $h[$_]->uri eq $i->{host} } 0, 1;
    ok(defined $hi && $i->{host_name} eq 'z1-' . ($hi + 1),
       "$i->{id}: host is its libvirt URI, host_name its name");
    $on{$i->{id}} = $i->{host_name};
}
for my $k (0, 1) {
    is_deeply([sort grep { $on{$_} eq 'z1-' . ($k + 1) } keys %on],
              [domains($h[$k])], "the API's host z1-" . ($k + 1)
              . ' is where the domains are');
}
my (undef, $pool) = $s->api('GET', '/v1/pools/web');
is_deeply([map { "$_->{name} $_->{up} $_->{instances}" } @{ $pool->{hosts} }],
          ['z1-1 1 3', 'z1-2 1 3'], 'the pool lists its hosts');

# scale-in: the largest host gives first, so the hosts stay balanced
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 4 });
is($code, 200, 'capacity 4');
$t->wait_for(sub { ndomains($h[0]) + ndomains($h[1]) == 4 }, timeout => 20,
             what => '4 domains');
is_deeply([ndomains($h[0]), ndomains($h[1])], [2, 2],
          'scale-in left 2/2');
is_deeply(by_host(), { 'z1-1' => 2, 'z1-2' => 2 }, 'and the members say so');
($rc, $out) = $h[0]->virsh('list', '--all', '--name');
like($out, qr/^other$/m, 'the domain of no pool was never touched');

# host 2 hangs: the zone goes on with host 1
$s->notices;
$h[1]->pause;
my $from = time;
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 6 });
my @wd;
ok($t->wait_for(sub { push @wd, grep { $_->[1] eq 'WATCHDOG=1' } $s->notices;
                      ndomains($h[0]) == 4 && keys %{ $s->members('web') } == 6 },
                timeout => 20, interval => 0.05, what => '4 on host 1'),
   'with host 2 stopped, the new instances went to host 1');
is_deeply(by_host(), { 'z1-1' => 4, 'z1-2' => 2 },
          "host 2's instances and members kept");
like($t->log('scaler'), qr/pool=web zone z1 host z1-2 \(\S+\) unreachable/,
     'host 2 reported unreachable');
my $until = time + 2;
$t->wait_for(sub { push @wd, grep { $_->[1] eq 'WATCHDOG=1' } $s->notices;
                   time > $until }, timeout => 5, interval => 0.05);
my ($gap) = sort { $b <=> $a } map { $wd[$_][0] - $wd[$_ - 1][0] } 1 .. $#wd;
ok(@wd >= 2 && $wd[0][0] - $from < 2 && $gap < 2,
   sprintf('the watchdog stayed fed: %d x WATCHDOG=1, largest gap %.2f s',
           scalar(@wd), $gap // 99));

$h[1]->resume;
ok($t->wait_for(sub { $t->log('scaler') =~ /zone z1 host z1-2 \(\S+\) is back/ },
                timeout => 15, what => 'host 2 back'), 'host 2 is back');
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 8 });
ok($t->wait_for(sub { ndomains($h[1]) == 4 && (by_host()->{'z1-2'} // 0) == 4 },
                timeout => 15, what => '4 on host 2'),
   'the next ones went to host 2, the one with fewer');
is_deeply(by_host(), { 'z1-1' => 4, 'z1-2' => 4 }, '4/4');

$t->done;
