#!/usr/bin/perl
# scaler: the warm pool and the launch hook (issues 19 x 16), as AWS's warm
# pools run it: the hook both when a warm instance is made
# (Warmed:Pending:Wait) and when it is woken (Pending:Wait).  warm_pool
# size 1, paused, hooks.launch (timeout 30 s, default abandon), on the test
# driver with guestsim and real Redis:
#   - the warm instance, once ready, waits in pending_launch before its
#     park: still warm (the API's "warm", warm_pool.pending_launch, the
#     metrics), not registered, not counted, no second one made for it;
#   - continue (scalesetctl complete) parks it: warm, paused;
#   - a scale-out wakes it: it waits in the launch hook again (a wait of
#     its own: begun after its wake, not the old one's timer), not
#     registered; continue registers it;
#   - abandon of a warm one waiting: deleted, a failure of the pool
#     (repair failures 1), and replaced by a new warm one that waits;
#   - abandon of a woken one waiting: deleted, a failure (2 in a row),
#     the capacity makes a new one (which waits in the hook);
#   - what a restarted scaler finds (test:///FILE.xml: a warm domain
#     running, a woken one awake and unregistered): each waits in the hook
#     again, the warm one still warm.
# And the terminate hook (AWS's Warmed:Terminating:Wait), pool term: warm
# pool size 1, paused, hooks.terminate (timeout 30 s), no launch hook:
#   - a new template.version (SIGHUP) makes its warm instance outdated: it
#     waits in pending_terminate, still warm (not registered, not counted),
#     no longer counted in the warm pool: a new warm one is made meanwhile;
#   - continue (scalesetctl complete --hook terminate) deletes it: its
#     domain is gone; events created, pending_terminate, deleted;
#   - reuse_on_scale_in: a drained instance going back to the warm pool
#     waits in the terminate hook first (AWS: Warmed:Pending:Wait for the
#     terminate hook), then continue parks it (not deleted).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $dir = $t->dir;
my $gport = $t->port('guest');

# a restarted scaler's view: a warm domain running (it waited in the hook
# before its park) and one woken (its tag has lost warm) not registered
my $tag = "pool='old' zone='z1' version='1'";
$t->write_file('node.xml', "<node>\n"
    . Scaleset::Scaler::test_domain('old-000001', "$tag id='old-000001' "
        . "address='127.0.5.1:$gport' warm='yes'",
        '<test:runstate>1</test:runstate>')
    . Scaleset::Scaler::test_domain('old-000002', "$tag id='old-000002' "
        . "address='127.0.5.2:$gport'", '<test:runstate>1</test:runstate>')
    . "</node>\n");

my $hooks = "    hooks:\n"
          . "      launch: { timeout: 30s, default: abandon }\n";
my $s = Scaleset::Scaler->new($t, pools => [
    { name => 'web', readiness => 'tcp', cidr => '127.0.9.0/24',
      port => $gport, capacity => [0, 4, 0],
      extra => "    warm_pool: { size: 1, state: paused }\n$hooks" },
    { name => 'old', readiness => 'tcp', cidr => '127.0.5.0/24',
      port => $gport, capacity => [0, 4, 1],
      zones => [['z1', "test://$dir/node.xml"]],
      extra => "    warm_pool: { size: 1, state: paused }\n$hooks" },
    { name => 'term', readiness => 'tcp', cidr => '127.0.8.0/24',
      port => $gport, capacity => [0, 4, 0],
      extra => "    warm_pool: { size: 1, state: paused, "
             . "reuse_on_scale_in: true }\n"
             . "    hooks:\n      terminate: { timeout: 30s }\n" },
]);
$s->start;
my $ctl = "$dir/guestctl";
mkdir $ctl;
$s->guestsim($ctl);
$s->guestsim_for('old', $ctl);   # old's instances served too
$s->guestsim_for('term', $ctl);
my $sctl = "SCALESET_API=http://127.0.0.1:${\ $t->port('api')} "
         . $t->bin('scalesetctl');

sub inst {
    my ($id, $pool) = @_;
    my (undef, $j) = $s->api('GET', '/v1/pools/' . ($pool // 'web')
                                    . '/instances');
    my ($i) = grep { $_->{id} eq $id }
              ref $j eq 'HASH' ? @{ $j->{instances} } : ();
    return $i // { state => 'gone' };
}
sub waits {
    my ($id, $state, $what, $pool) = @_;
    return $t->wait_for(sub { inst($id, $pool)->{state} eq $state },
                        timeout => 15, what => $what // "$id $state");
}
sub events {
    my ($pool) = @_;
    my (undef, $j) = $s->api('GET', '/v1/pools/' . ($pool // 'web')
                                    . '/events?since=0');
    return map { "$_->{id} $_->{event} $_->{state}" } @{ $j->{events} // [] };
}

# --- made: waits in the launch hook before its park -----------------------
ok(waits('web-000001', 'pending_launch'),
   'the warm instance, ready, waits in the launch hook');
my $i = inst('web-000001');
ok($i->{warm}, 'the API says it is warm');
is($i->{power}, 'running', 'not parked yet (running)');
is($i->{hook}{hook}, 'launch', 'in the launch hook');
my $since1 = $i->{hook}{since};
sleep 1;
ok(!exists $s->members('web')->{'web-000001'}, 'not registered');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{running}, 0, 'not counted in the capacity');
is($p->{warm_pool}{pending_launch}, 1, 'warm_pool.pending_launch 1');
is(inst('web-000002')->{state}, 'gone',
   'no second warm instance made while it waits');
my (undef, $m) = $t->http_get('api', '/metrics');
like($m, qr/^scaleset_scaler_warm_pending_launch\{pool="web"\} 1$/m,
     'metrics: scaleset_scaler_warm_pending_launch 1');
like($m, qr/^scaleset_scaler_instances\{pool="web",state="pending_launch"\} 1$/m,
     'metrics: instances pending_launch 1');
my $out = `$sctl instances web 2>&1`;
like($out, qr/^web-000001\s+z1\s+pending_launch\/warm\s/m,
     'scalesetctl instances: pending_launch/warm');

# --- continue: parked ------------------------------------------------------
$out = `$sctl complete web web-000001 --hook launch --result continue 2>&1`;
is($? >> 8, 0, 'scalesetctl complete --result continue') or diag $out;
ok($t->wait_for(sub { my $x = inst('web-000001');
                      $x->{state} eq 'warm' && $x->{power} eq 'paused' },
                timeout => 10, what => 'parked'), 'continue: parked, paused');
like($t->log('scaler'), qr/id=web-000001 parked paused \(warm, launch hook: continue, kept paused\) rule=hook/,
     'parked by the hook, logged');
ok(!exists inst('web-000001')->{hook}, 'no longer in a hook');

# --- woken: the launch hook again, then registered -------------------------
my $mark = length $t->log('scaler');
my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 1 });
is($code, 200, 'capacity 1');
ok(waits('web-000001', 'pending_launch', 'woken into the hook'),
   'woken: waits in the launch hook again');
$i = inst('web-000001');
ok(!$i->{warm}, 'out of the warm pool');
cmp_ok($i->{hook}{since}, '>', $since1, 'a wait of its own: begun after '
       . 'its wake');
is($i->{hook}{timeout_at} - $i->{hook}{since}, 30000,
   'with the whole timeout');
like(substr($t->log('scaler'), $mark),
     qr/id=web-000001 woken from paused .* rule=scale_out/, 'woken');
sleep 0.5;
ok(!exists $s->members('web')->{'web-000001'}, 'not registered meanwhile');
ok(waits('web-000002', 'pending_launch', 'the refill waits'),
   'the refill: web-000002 waits in the hook');
ok(inst('web-000002')->{warm}, 'warm');
$out = `$sctl complete web web-000001 --hook launch --result continue 2>&1`;
is($? >> 8, 0, 'continue') or diag $out;
ok($t->wait_for(sub { exists $s->members('web')->{'web-000001'} },
                timeout => 10, what => 'registered'), 'registered in Redis');
like($t->log('scaler'), qr/id=web-000001 registered \S+ .*\(launch hook: continue\) rule=hook/,
     'by the hook');

# --- abandon a warm one: deleted, a failure, replaced ----------------------
($code) = $s->api('POST', '/v1/pools/web/instances/web-000002/lifecycle',
                  { hook => 'launch', result => 'abandon' });
is($code, 202, 'abandon: 202');
ok(waits('web-000002', 'gone'), 'abandoned: deleted');
like($t->log('scaler'), qr/id=web-000002 deleted \(warm, launch hook: abandon\) rule=hook/,
     'logged');
(undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{repair}{failures}, 1, 'a failure of the pool');
ok(waits('web-000003', 'pending_launch', 'replaced'),
   'replaced: web-000003 waits in the hook');
ok(inst('web-000003')->{warm}, 'warm');
ok(!exists $s->members('web')->{'web-000002'}, 'never registered');

my %ev = map { $_ => 1 } events();
for my $want ('web-000001 created warm', 'web-000001 pending_launch pending_launch',
              'web-000001 parked warm', 'web-000001 woken booting',
              'web-000001 registered running', 'web-000002 deleted deleting') {
    ok($ev{$want}, "event: $want");
}
my @one = grep { /^web-000001 / } events();
is_deeply(\@one, ['web-000001 created warm',
                  'web-000001 pending_launch pending_launch',
                  'web-000001 parked warm', 'web-000001 woken booting',
                  'web-000001 pending_launch pending_launch',
                  'web-000001 registered running'],
          "web-000001's events in order");

# --- abandon a woken one: deleted, a failure, the capacity creates ---------
$out = `$sctl complete web web-000003 --hook launch --result continue 2>&1`;
ok($t->wait_for(sub { inst('web-000003')->{state} eq 'warm' }, timeout => 10,
                what => 'web-000003 parked'), 'web-000003 parked');
($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 2 });
ok(waits('web-000003', 'pending_launch', 'web-000003 woken into the hook'),
   'capacity 2: web-000003 woken, waits in the hook');
ok(!inst('web-000003')->{warm}, 'out of the warm pool');
($code) = $s->api('POST', '/v1/pools/web/instances/web-000003/lifecycle',
                  { hook => 'launch', result => 'abandon' });
is($code, 202, 'abandon the woken one');
ok(waits('web-000003', 'gone'), 'deleted');
like($t->log('scaler'), qr/id=web-000003 deleted \(launch hook: abandon\) rule=hook/,
     'by the hook');
(undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{repair}{failures}, 2, 'a failure of the pool (2 in a row)');
ok($t->wait_for(sub { grep { $_->{state} eq 'pending_launch' && !$_->{warm} }
                      map { inst($_) } map { sprintf 'web-%06d', $_ } 4 .. 6 },
                timeout => 15, what => 'its replacement'),
   'the capacity replaces it (a new one, in the hook)');
ok(!exists $s->members('web')->{'web-000003'}, 'never registered');

# --- what a restarted scaler finds ----------------------------------------
ok(waits('old-000001', 'pending_launch', 'old warm', 'old'),
   'a warm domain running, ready: waits in the hook again');
ok(inst('old-000001', 'old')->{warm}, 'still warm');
ok(waits('old-000002', 'pending_launch', 'old woken', 'old'),
   'a woken one, awake and unregistered: waits in the hook again');
ok(!inst('old-000002', 'old')->{warm}, 'not warm');
is(scalar keys %{ $s->members('old') }, 0, 'neither is registered');
`$sctl complete old old-000002 --hook launch --result continue 2>&1`;
`$sctl complete old old-000001 --hook launch --result continue 2>&1`;
ok($t->wait_for(sub { exists $s->members('old')->{'old-000002'} },
                timeout => 10, what => 'old-000002 registered'),
   'continue: the woken one registered');
ok($t->wait_for(sub { my $x = inst('old-000001', 'old');
                      $x->{state} eq 'warm' && $x->{power} eq 'paused' },
                timeout => 10, what => 'old-000001 parked'),
   'continue: the warm one parked');


# --- the terminate hook: an outdated warm instance waits in it ------------
ok($t->wait_for(sub { my $x = inst('term-000001', 'term');
                      $x->{state} eq 'warm' && $x->{power} eq 'paused' },
                timeout => 15, what => 'term-000001 parked'),
   'term: the warm instance parked (no launch hook)');
$s->{opt}{pools}[2]{version} = 2;
$s->write_config;
$mark = length $t->log('scaler');
$t->signal('scaler', 'HUP');
ok(waits('term-000001', 'pending_terminate', 'outdated, in the hook', 'term'),
   'version 2: the outdated warm instance waits in the terminate hook');
$i = inst('term-000001', 'term');
ok($i->{warm}, 'still warm');
is($i->{hook}{hook}, 'terminate', 'in the terminate hook');
like(substr($t->log('scaler'), $mark),
     qr/id=term-000001 pending_terminate \(warm, model version 1 is not the latest: replaced; waiting for the terminate hook \(30000 ms, then continue\)\) rule=hook/,
     'logged');
ok($t->wait_for(sub { my $x = inst('term-000002', 'term');
                      $x->{state} eq 'warm' && $x->{power} eq 'paused' },
                timeout => 15, what => 'term-000002 parked'),
   'its replacement made meanwhile: term-000002 warm, paused');
is(inst('term-000002', 'term')->{version}, '2', 'of version 2');
sleep 0.5;
is(inst('term-000001', 'term')->{state}, 'pending_terminate',
   'the old one still waits');
ok(!exists $s->members('term')->{'term-000001'}, 'not registered');
(undef, $p) = $s->api('GET', '/v1/pools/term');
is($p->{running}, 0, 'not counted in the capacity');
is($p->{warm_pool}{instances}, 1, 'warm_pool.instances 1: the new one');
is(inst('term-000003', 'term')->{state}, 'gone', 'no third one made');
$out = `$sctl complete term term-000001 --hook terminate --result continue 2>&1`;
is($? >> 8, 0, 'scalesetctl complete --hook terminate --result continue')
    or diag $out;
ok(waits('term-000001', 'gone', 'deleted', 'term'),
   'continue: deleted, its domain gone');
like($t->log('scaler'),
     qr/id=term-000001 deleted \(warm, terminate hook: continue\) rule=hook/,
     'deleted by the hook');
is(inst('term-000002', 'term')->{state}, 'warm', 'the new one stays warm');
my @term = grep { /^term-000001 / } events('term');
# (a park without a launch hook is no event: it was warm all along)
is_deeply(\@term, ['term-000001 created warm',
                   'term-000001 pending_terminate pending_terminate',
                   'term-000001 deleted deleting'],
          "term-000001's events in order") or diag explain \@term;


# --- reuse_on_scale_in: back to the warm pool through the terminate hook ---
($code) = $s->api('PUT', '/v1/pools/term/capacity', { capacity => 1 });
is($code, 200, 'term: capacity 1');
ok($t->wait_for(sub { exists $s->members('term')->{'term-000002'} },
                timeout => 15, what => 'term-000002 woken, registered'),
   'term-000002 woken and registered');
ok($t->wait_for(sub { inst('term-000003', 'term')->{state} eq 'warm' },
                timeout => 15, what => 'term-000003 warm'),
   'the refill: term-000003 warm');
$mark = length $t->log('scaler');
($code) = $s->api('PUT', '/v1/pools/term/capacity', { capacity => 0 });
is($code, 200, 'term: capacity 0');
ok(waits('term-000002', 'pending_terminate', 'drained, in the hook', 'term'),
   'the drained one waits in the terminate hook on its way back');
like(substr($t->log('scaler'), $mark),
     qr/id=term-000002 pending_terminate \(drained, back to the warm pool \(reuse_on_scale_in, 2 warm\); waiting for the terminate hook/,
     'logged: on its way back to the warm pool');
sleep 0.5;
is(inst('term-000002', 'term')->{state}, 'pending_terminate', 'still waits');
is(inst('term-000004', 'term')->{state}, 'gone', 'no refill made for it');
$out = `$sctl complete term term-000002 --hook terminate --result continue 2>&1`;
is($? >> 8, 0, 'complete --hook terminate --result continue') or diag $out;
ok($t->wait_for(sub { my $x = inst('term-000002', 'term');
                      $x->{state} eq 'warm' && $x->{power} eq 'paused' },
                timeout => 10, what => 'term-000002 parked'),
   'continue: back in the warm pool, paused');
like($t->log('scaler'),
     qr/id=term-000002 parked paused \(terminate hook: continue, back to the warm pool\) rule=hook/,
     'parked by the hook');
unlike($t->log('scaler'), qr/id=term-000002 deleted/, 'not deleted');
ok(!exists $s->members('term')->{'term-000002'}, 'out of the member hash');
@term = grep { /^term-000002 / } events('term');
is_deeply([@term[-3 .. -1]], ['term-000002 draining draining',
                              'term-000002 pending_terminate pending_terminate',
                              'term-000002 parked warm'],
          "term-000002's last events") or diag explain \@term;

$t->done;
