#!/usr/bin/perl
# slow_start= of scaleset_health_check: a member that comes up takes a
# share that grows from about nothing to its weight over slow_start, and
# slow start never turns a request away while some member can serve it:
# no 502 with traffic right after start (both members ramping), nor when
# both members of a pool are added to a running gateway at once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Pool;

my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
$t->start_redis;
my $r = $t->redis;
$t->start_backends(b1 => 'b1', b2 => 'b2', b3 => 'b3');

sub conf {
    my ($extra) = @_;
    return <<"EOF";
    scaleset_redis 127.0.0.1:%%PORT_redis%%;
    upstream web {
        scaleset web resync=30s;
        scaleset_health_check interval=500ms timeout=200ms slow_start=4s
                              $extra;
    }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://web; }
        location = /status { scaleset_status; }
    }
EOF
}

# requests for $secs seconds: { backend or status-CODE => count }
sub load_for {
    my ($secs) = @_;
    my %c;
    my $end = time + $secs;
    while (time < $end) {
        my ($code, $body) = $t->http_get('http', '/');
        my $k = $code == 200 ? $body : "status-$code";
        $k =~ s/\s+$//;
        $c{$k}++;
    }
    return \%c;
}

sub failed { my ($c) = @_; my $n = 0; $n += $c->{$_} for grep { /^status-/ } keys %$c; $n }
sub total  { my ($c) = @_; my $n = 0; $n += $_ for values %$c; $n }

sub first_200 {
    return $t->wait_for(sub { my ($code) = $t->http_get('http', '/');
                              $code == 200 }, timeout => 10,
                        what => 'a first answer', interval => 0.005);
}

# 1: traffic right after start, both members ramping up together
pool_set($r, 'web', { 'web-1' => addr($t, 'b1'), 'web-2' => addr($t, 'b2') });
$t->start_nginx(workers => 2, http => conf(''));
ok(first_200(), 'the gateway answers once a member passed its check');
my $c = load_for(2.5);
is(failed($c), 0, 'right after start, both members in slow start: no '
   . 'request refused (' . total($c) . ' requests)') or diag explain $c;
ok($c->{b1} && $c->{b2}, 'both members serve') or diag explain $c;
$t->stop_nginx;

# 2: both members added at once to a running gateway (mandatory=off:
# unchecked members serve, so only slow start could refuse)
pool_replace($r, 'web', {});
$t->start_nginx(workers => 2, http => conf('mandatory=off'));
$t->wait_for(sub { my ($code) = $t->http_get('http', '/'); $code == 502 },
             what => 'the empty pool applied');
pool_set($r, 'web', { 'web-2' => addr($t, 'b2'), 'web-3' => addr($t, 'b3') });
ok(first_200(), 'the new members serve');
$c = load_for(2.5);
is(failed($c), 0, 'two members added at once: no request refused ('
   . total($c) . ' requests)') or diag explain $c;
ok($c->{b2} && $c->{b3}, 'both new members serve') or diag explain $c;

# 3: the ramp itself: a member that comes back gets a small share first
# and its full share after slow_start
sub health_of {
    my ($id) = @_;
    my $st = $t->gateway_status;
    my ($m) = grep { $_->{id} eq $id } @{ $st->{pools}{web}{members} // [] };
    return $m ? $m->{health} : '';
}

ok($t->wait_for(sub { my $c = count_backends($t, 'http', 20);
                      abs(($c->{b2} // 0) - ($c->{b3} // 0)) <= 2 },
                timeout => 10, what => 'full shares'),
   'after slow_start both members have their full share');
$t->backend('b3', healthz => 500);
ok($t->wait_for(sub { health_of('web-3') eq 'down' }, timeout => 5,
                what => 'web-3 down'), 'web-3 down');
$t->backend('b3');
ok($t->wait_for(sub { health_of('web-3') eq 'up' }, timeout => 5,
                interval => 0.01, what => 'web-3 up'), 'web-3 up again');
my $early = load_for(0.8);
my $share = ($early->{b3} // 0) / (total($early) || 1);
cmp_ok($share, '<', 0.3, sprintf('in its first 0.8 s of a 4 s slow start '
       . 'the member took %.0f %% of the requests', 100 * $share))
    or diag explain $early;
cmp_ok($early->{b3} // 0, '>', 0, 'but it took some') or diag explain $early;
is(failed($early), 0, 'no request refused meanwhile');
ok($t->wait_for(sub { my $c = count_backends($t, 'http', 20);
                      abs(($c->{b2} // 0) - ($c->{b3} // 0)) <= 2 },
                timeout => 8, what => 'full share again'),
   'and its full share at the end of slow_start');

$t->done;
