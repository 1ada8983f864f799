#!/usr/bin/perl
# A health check result is written only into the slot of the member that
# was checked: a slot freed and given to another member while a result is
# being written must not give the new member that result (issue 13 item
# 9).  gdb stops the checking worker (it owns the slot, slot % workers;
# not the lease holder, which applies membership) in
# ngx_http_scaleset_check_done just after it wrote the first field of a
# passing result, past its generation check.  The checked member then
# leaves and a new one at a closed port comes, in the same slot
# (max_members=2); the checker finishes check_done and gdb holds it again,
# so it checks nothing more while the status is read.  Without a lock over
# the generation check and the writes (before df5e640) the lease holder
# reuses the slot meanwhile and the new member is "up" with the old
# member's passing result; with it, the changes wait for the checker, and
# the new member shows only its own (refused) check.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;
use JSON::PP;
use Scaleset::Test;
use Scaleset::Pool;

my $why = Scaleset::Test::gdb_unusable();
plan skip_all => $why if $why;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2');
my $closed = '127.0.0.1:' . $t->port('closed');    # nothing listens there

pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });

# interval 2s: the checker's next check of its member comes soon after
# gdb attached
$t->start_nginx(workers => 2, http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web {
        scaleset web max_members=2 resync=300ms;
        scaleset_health_check interval=2s timeout=1s fails=1 passes=1;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location = /status { scaleset_status; }
    }
EOF

# a status client of its own: short timeouts while a worker is stopped
my $ua = HTTP::Tiny->new(timeout => 1, keep_alive => 0);
sub members {
    my (undef, $body) = $t->http_get('http', '/status', ua => $ua);
    my $st = eval { decode_json($body // '') } // {};
    return { map { $_->{id} => $_ } @{ $st->{pools}{web}{members} // [] } };
}

ok($t->wait_for(sub { my $m = members();
                      ($m->{'web-1'}{health} // '') eq 'up'
                      && ($m->{'web-2'}{health} // '') eq 'up' },
                what => 'both members up'), 'both members are up');

my $st = $t->gateway_status;
my $holder = $st->{redis}{lease_pid} // 0;
my ($checker) = grep { $_ != $holder } $t->nginx_workers;
ok($holder && $checker,
   "a worker other than the lease holder ($holder): " . ($checker // '?'));

# gdb: at the checker's next check_done of a pass, a watchpoint on the
# slot's health_checked; stopped after that write it says so, waits for
# "go" (or 20 s), lets check_done finish, says so, and waits for "end" (or
# 20 s) before it detaches (the harness releases it if the test dies)
my $dir = $t->dir;
my ($stopped, $go, $finished, $end) =
    map { "$dir/gdb.$_" } qw(stopped go finished end);
my $wait = sub { "shell touch $_[0]; i=0; while [ ! -e $_[1] ] && "
                . "[ \$i -lt 400 ]; do sleep 0.05; i=\$((i+1)); done" };
my $gdb_done = $t->gdb($checker, [
    'set pagination off',
    'break ngx_http_scaleset_check_done if result == SCALESET_CHECK_PASS',
    'continue',
    'delete',
    'printf "checked: slot %lu id %s result %d\n", peer->slot, '
        . 'peer->cp->sscf->sh->slots[peer->slot].id, result',
    'watch -l peer->cp->sscf->sh->slots[peer->slot].health_checked',
    'continue',
    'bt 1',
    $wait->($stopped, $go),
    'delete', 'finish',
    $wait->($finished, $end),
    'detach'],
    release => sub { $t->write_file($_, '') for $go, $end });

my $ok = $t->wait_for(sub { -e $stopped }, timeout => 10,
                      what => 'the checker stopped in check_done');
my $log = $t->read_file("$dir/gdb.log") // '';
my ($slot, $victim, $result) =
    $log =~ /checked: slot (\d+) id (\S+) result (\d+)/;
ok($ok && $victim && $log =~ /ngx_http_scaleset_check_done/,
   'the checker is stopped writing the result of ' . ($victim // '?')
   . ' (slot ' . ($slot // '?') . ')') or diag $log;
$victim //= 'web-1';

# the checked member leaves, then web-3 comes and takes its slot (two
# changes: before 385fae4 a swap in a full pool applied in two steps).  If
# nothing stops it, the lease holder applies both at once; when it waits
# for the checker's hold it applies neither, and the deadline passes.
pool_del($r, 'web', $victim);
my $own = $t->wait_for(sub { my $m = members(); %$m && !$m->{$victim} },
                       timeout => 4, what => "$victim removed while the "
                                            . 'checker is stopped (none with '
                                            . 'a lock)');
pool_set($r, 'web', { 'web-3' => $closed });
$own &&= $t->wait_for(sub { members()->{'web-3'} }, timeout => 4,
                      what => 'web-3 added');
note $own ? 'the changes applied while the checker was stopped'
          : 'the changes waited for the checker';

$t->write_file($go, '');
ok($t->wait_for(sub { -e $finished }, timeout => 10,
                what => 'check_done finished'),
   'the checker wrote its result (and is held again)');

# the checker checks nothing more meanwhile: what web-3 shows is the
# lease holder's apply and check, or the checker's write
my $m;
ok($t->wait_for(sub { $m = members(); $m->{'web-3'} && !$m->{$victim} },
                timeout => 8, what => 'web-3 in the pool'),
   "web-3 replaced $victim");
my ($health, $reason) = map { $m->{'web-3'}{$_} // '?' } qw(health reason);
ok($health ne 'up' && $reason ne 'pass',
   "web-3 did not inherit ${victim}'s passing check "
   . "(health $health, reason $reason)") or diag explain $m->{'web-3'};

$t->write_file($end, '');
ok($t->wait_for($gdb_done, timeout => 10, what => 'gdb detached'),
   'gdb detached from the checker');
note $t->read_file("$dir/gdb.log") // '';

$t->done;
