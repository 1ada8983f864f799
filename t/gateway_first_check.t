#!/usr/bin/perl
# Active health checks: a member the lease holder adds is checked at once
# by the worker that applied it, whichever worker owns its slot, not at
# the owner's next scan; the owner does not check it a second time before
# its interval; mandatory holds (no request before the first passing
# check: a member answering 503 gets none).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(map { ("b$_" => "b$_") } 1 .. 5);
$t->backend('b5', healthz => 503);

pool_set($r, 'web', { 'web-1' => addr($t, 'b1') });

# interval 20s: after a member's first check nothing else checks it during
# the test; the debug log says which process checked what
$t->start_nginx(workers => 2, log_level => 'debug', http => <<'EOF');
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web {
        scaleset web resync=30s;
        scaleset_health_check interval=20s timeout=1s;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /scaleset/status { scaleset_status; }
    }
EOF

sub serving {
    my $c = count_backends($t, 'http', 16);
    return join ' ', sort keys %$c;
}

ok($t->wait_for(sub { serving() eq 'b1' }, timeout => 10, what => 'b1 up'),
   'the first member is up');

# four members at once: their slots fall to both workers
sub health {
    my $st = $t->gateway_status('http', '/scaleset/status');
    return { map { $_->{id} => $_->{health} }
             @{ $st->{pools}{web}{members} // [] } };
}
my %before = map { $_ => $t->backend_accepted("b$_") } 2 .. 5;
my $mark = length($t->log('nginx') // '');
pool_set($r, 'web', { map { ("web-$_" => addr($t, "b$_")) } 2 .. 5 });
ok($t->wait_for(sub { my $h = health();
                      (grep { ($h->{"web-$_"} // '') eq 'up' } 2 .. 4) == 3
                      && ($h->{'web-5'} // '') eq 'down' },
                timeout => 5, what => 'checked'),
   'the new members are checked: b2 b3 b4 up, b5 down');

my $log = substr($t->log('nginx'), $mark);
my %pid;
while ($log =~ /^\S+ \S+ \[debug\] (\d+)#\d+: scaleset check: slot (\d+) added, checked now$/mg) {
    $pid{$2} = $1;
}
is(scalar keys %pid, 4, 'every added member was checked at once: slots '
   . join(' ', sort keys %pid));
my %procs = map { $_ => 1 } values %pid;
is(scalar keys %procs, 1, 'all by the one process that applied the change');
ok((grep { $_ % 2 == 0 } keys %pid) && (grep { $_ % 2 == 1 } keys %pid),
   'slots owned by both workers among them');

# no request yet, only health checks: one each, and the slots' owners,
# which took that result over, do not check again before interval
select undef, undef, undef, 1;
is($t->backend_accepted("b$_") - $before{$_}, 1,
   "b$_: one check, not a second by its slot's owner") for 2 .. 5;
ok($t->wait_for(sub { serving() eq 'b1 b2 b3 b4' }, timeout => 5,
                what => 'b1..b4 serving'), 'b2 b3 b4 serve');
is($t->backend_hits('b5'), 0, 'b5 (503): no request (mandatory)');

$t->done;
