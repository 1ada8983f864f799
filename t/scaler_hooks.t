#!/usr/bin/perl
# Lifecycle hooks and events (issue 16, What to build 6): the real
# scaler on the test driver, guestsim, real Redis, a webhook receiver
# that refuses its first two POSTs.
#
#   launch     a ready instance waits in pending_launch (not registered):
#              continue registers it; abandon deletes it (replaced); at
#              its timeout the default (abandon) applies; heartbeats keep
#              it waiting past the timeout;
#   terminate  a drained instance waits in pending_terminate before its
#              shutdown: continue through the API; at the timeout the
#              default (continue);
#   events     every transition is one JSON event: the webhook receiver
#              gets every one of them, in order, despite its errors
#              (retried); the same on PREFIX{POOL}:lifecycle; GET
#              .../events and scalesetctl events [--follow] show them.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $dir = $t->dir;
$t->start_redis;
my $r = $t->redis;
my $hport = $t->port('hook');
$t->spawn(name => 'receiver', wait_port => 'hook',
          cmd => [$^X, "$FindBin::Bin/lib/webhook_receiver.pl", $hport,
                  "$dir/received", 2]);
# every event published on the lifecycle channel, as received
$t->spawn(name => 'subscriber', cmd => [$^X, '-MRedis', '-e', <<'EOF',
$| = 1;
my $r = Redis->new(server => "127.0.0.1:$ARGV[0]");
$r->subscribe('scaleset:{web}:lifecycle', sub { print "$_[0]\n" });
$r->wait_for_messages(1) while 1;
EOF
          $t->port('redis')]);
$t->wait_for(sub { my @n = $r->pubsub('NUMSUB', 'scaleset:{web}:lifecycle');
                   ($n[1] // 0) == 1 }, timeout => 10, what => 'subscribed');
my $gport = $t->port('guest');
my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    readiness => 'tcp', cidr => '127.0.14.0/24', port => $gport,
    capacity => [0, 4, 0], drain_timeout => '5s',
    extra => "    hooks:\n"
           . "      launch: { timeout: 3s, default: abandon }\n"
           . "      terminate: { timeout: 3s, default: continue }\n"
           . "      webhook: \"http://127.0.0.1:$hport/events\"\n" } ]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);
my $cli = sub {
    my $out = `SCALESET_API=http://127.0.0.1:${\ $t->port('api')} @{[ $t->bin('scalesetctl') ]} @_ 2>&1`;
    return ($? >> 8, $out);
};
$t->spawn(name => 'follow', cmd => ['sh', '-c',
    "SCALESET_API=http://127.0.0.1:" . $t->port('api') . ' '
    . $t->bin('scalesetctl') . ' --json events web --follow']);

sub state_of {
    my ($id) = @_;
    my (undef, $j) = $s->api('GET', '/v1/pools/web/instances');
    my ($i) = grep { $_->{id} eq $id } @{ $j->{instances} // [] };
    return $i ? $i->{state} : 'gone';
}
sub waits_in {
    my ($id, $state) = @_;
    return $t->wait_for(sub { state_of($id) eq $state }, timeout => 10,
                        what => "$id $state");
}
my $log = sub { $t->log('scaler') };

# --- launch: continue ---------------------------------------------------
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
ok(waits_in('web-000001', 'pending_launch'), 'ready: waits in pending_launch');
sleep 0.5;
ok(!exists $s->members('web')->{'web-000001'}, 'not registered meanwhile');
my (undef, $j) = $s->api('GET', '/v1/pools/web/instances');
is($j->{instances}[0]{hook}{hook}, 'launch', 'the API says which hook');
is($j->{instances}[0]{hook}{default}, 'abandon', 'and its default');
($code, my $b) = $s->api('POST', '/v1/pools/web/instances/web-000001/lifecycle',
                         { hook => 'terminate', result => 'continue' });
is($code, 409, 'the wrong hook: 409');
for my $bad ('{"hook":"launch"}', '{"hook":"launch","result":"maybe"}',
             '{"hook":"boot","result":"continue"}',
             '{"hook":"launch","result":"continue","heartbeat":true}') {
    ($code) = $s->api('POST', '/v1/pools/web/instances/web-000001/lifecycle',
                      $bad);
    is($code, 400, "lifecycle body $bad: 400");
}
my ($rc, $out) = $cli->('complete', 'web', 'web-000001', '--hook', 'launch',
                        '--result', 'continue');
is($rc, 0, 'scalesetctl complete --hook launch --result continue');
ok($t->wait_for(sub { exists $s->members('web')->{'web-000001'} },
                timeout => 5, what => 'registered'), 'registered');
like($log->(), qr/id=web-000001 registered \S+ .*\(launch hook: continue\) rule=hook/,
     'logged with its rule');

# --- launch: abandon, timeout (default abandon), heartbeat ----------------
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
ok(waits_in('web-000002', 'pending_launch'), 'web-000002 waits');
($code) = $s->api('POST', '/v1/pools/web/instances/web-000002/lifecycle',
                  { hook => 'launch', result => 'abandon' });
is($code, 202, 'abandon: 202');
ok($t->wait_for(sub { state_of('web-000002') eq 'gone' }, timeout => 5,
                what => 'gone'), 'abandoned: deleted');
ok(waits_in('web-000003', 'pending_launch'), 'replaced: web-000003 waits');
my $t0 = time;
ok($t->wait_for(sub { state_of('web-000003') eq 'gone' }, timeout => 10,
                what => 'timed out'), 'its timeout: deleted (default abandon)');
cmp_ok(time - $t0, '>=', 2.5, sprintf('not before its timeout (%.1f s)',
                                      time - $t0));
like($log->(), qr/id=web-000003 deleted \(launch hook: abandon \(its default, at its timeout\)\) rule=hook/,
     'logged as the default at its timeout');
ok(waits_in('web-000004', 'pending_launch'), 'web-000004 waits');
$t0 = time;
for (1 .. 3) {
    sleep 1.5;
    ($rc) = $cli->('complete', 'web', 'web-000004', '--hook', 'launch',
                   '--heartbeat');
    is($rc, 0, 'a heartbeat');
}
is(state_of('web-000004'), 'pending_launch',
   sprintf('still waiting %.1f s later: heartbeats extend it', time - $t0));
$cli->('complete', 'web', 'web-000004', '--hook', 'launch', '--result',
       'continue');
ok($t->wait_for(sub { exists $s->members('web')->{'web-000004'} },
                timeout => 5, what => 'registered'), 'then registered');

# --- terminate: continue, and the default at the timeout -----------------
($code) = $s->api('DELETE', '/v1/pools/web/instances/web-000004');
ok(waits_in('web-000004', 'pending_terminate'),
   'drained: waits in pending_terminate');
ok($t->wait_for(sub { state_of('web-000005') eq 'pending_launch' },
                timeout => 10, what => 'replacement'), 'its replacement waits');
$cli->('complete', 'web', 'web-000005', '--hook', 'launch', '--result',
       'continue');
($code) = $s->api('POST', '/v1/pools/web/instances/web-000004/lifecycle',
                  { hook => 'terminate', result => 'continue' });
is($code, 202, 'terminate: continue');
ok($t->wait_for(sub { state_of('web-000004') eq 'gone' }, timeout => 5,
                what => 'deleted'), 'shut down and deleted');
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
my ($gone) = ('web-000005');
ok(waits_in($gone, 'pending_terminate'), 'scale-in: pending_terminate');
$t0 = time;
ok($t->wait_for(sub { state_of($gone) eq 'gone' }, timeout => 10,
                what => 'timed out'), 'its timeout: default continue');
cmp_ok(time - $t0, '>=', 2.5, 'not before it');
like($log->(), qr/id=\Q$gone\E deleted \(terminate hook: continue \(its default, at its timeout\)/,
     'logged');

# --- the events: API, webhook, channel, scalesetctl ------------------------
(undef, $j) = $s->api('GET', '/v1/pools/web/events?since=0');
my @api = @{ $j->{events} // [] };
my @seqs = map { $_->{seq} } @api;
is_deeply(\@seqs, [1 .. scalar @seqs], 'GET .../events: seq 1, 2, ...');
my %events = map { ("$_->{id} $_->{event}" => 1) } @api;
for my $want ('web-000001 created', 'web-000001 pending_launch',
              'web-000001 registered', 'web-000002 deleted',
              'web-000004 draining', 'web-000004 pending_terminate',
              'web-000004 deleted', "$gone draining") {
    ok($events{$want}, "event: $want");
}
my ($ev) = grep { $_->{event} eq 'pending_launch' } @api;
is_deeply([sort keys %$ev],
          [sort qw(pool id event state reason rule at seq)],
          'an event has pool, id, event, state, reason, rule, at, seq');
my $received = sub {
    [ map { decode_json($_) } grep { length } split /\n/,
      $t->read_file('received') // '' ]
};
ok($t->wait_for(sub { @{ $received->() } >= @api }, timeout => 30,
                what => 'the webhook caught up'), 'the webhook caught up');
is_deeply([ map { $_->{seq} } @{ $received->() } ], \@seqs,
          'the webhook receiver got every event, in order, after refusing '
          . 'two POSTs');
like($log->(), qr/webhook http:\S+: HTTP 500: retrying/, 'the retry logged');
my @channel = map { decode_json($_)->{seq} } grep { /^\{/ }
              split /\n/, $t->log('subscriber');
is_deeply(\@channel, \@seqs, 'published on PREFIX{POOL}:lifecycle, in order');
($rc, $out) = $cli->('events', 'web');
my @lines = split /\n/, $out;
is(scalar @lines, scalar @api, 'scalesetctl events: a line per event');
like($lines[0], qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z web-000001 created\s+booting\s+\(.*\) rule=scale_out$/,
     'time, id, event, state, reason, rule');
my @followed = map { decode_json($_)->{seq} } grep { /^\{/ }
               split /\n/, $t->log('follow');
is_deeply(\@followed, \@seqs, 'scalesetctl events --follow saw them all');
my (undef, $m) = $t->http_get('api', '/metrics');
like($m, qr/^scaleset_scaler_webhook_sent_total\{pool="web"\} ${\ scalar @seqs}$/m,
     'scaleset_scaler_webhook_sent_total');
$t->done;
