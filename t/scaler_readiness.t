#!/usr/bin/perl
# scaler: an instance is registered only after its address answers (TCP
# connect).  The guest simulator serves the instances; one of them is
# "dead" until its switch is removed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $gport = $t->port('guest');
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    readiness => 'tcp', cidr => '127.0.5.0/24', port => $gport,
    capacity => [0, 5, 0] } ]);
$s->start;
my $ctl = $t->dir . '/guestctl';
mkdir $ctl;
$t->write_file("$ctl/web-000002", "dead\n");
$s->guestsim($ctl);

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 3 });
is($code, 200, 'capacity 3');
$t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 10,
             what => '2 members');
select undef, undef, undef, 1;
my $m = $s->members('web');
is_deeply([sort keys %$m], [qw(web-000001 web-000003)],
          'the dead instance is not registered');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
my ($two) = grep { $_->{id} eq 'web-000002' } @{ $p->{instances_list} };
is($two->{state}, 'booting', 'it stays booting');

require HTTP::Tiny;
my $res = HTTP::Tiny->new(timeout => 2)->get("http://127.0.5.1:$gport/");
is($res->{content}, "web-000001 version=1\n",
   'guest simulator names the instance and its version');

unlink "$ctl/web-000002";
$t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
             what => '3 members');
ok(exists $s->members('web')->{'web-000002'},
   'registered once its address answers');

$t->done;
