#!/usr/bin/perl
# The directives: a valid configuration passes nginx -t; wrong or
# conflicting arguments fail it with a message naming the directive and
# the argument.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new(need => [qw(nginx)]);

sub conf {
    my ($redis, $ups, $extra) = @_;
    return ($redis // 'scaleset_redis 127.0.0.1:6379;') . "\n"
         . ($extra // '') . "\n"
         . "upstream web { $ups }\n"
         . "server { listen 127.0.0.1:%%PORT_http%%; "
         . "location / { proxy_pass http://web; } }\n";
}

my ($rc, $out) = $t->nginx_test(http => conf(
    'scaleset_redis 127.0.0.1:6379 password=secret db=2 prefix=test:;',
    'scaleset web zone=1m max_members=100 balance=least_conn resync=2s;',
    "scaleset_gateway_id gw-1;\nscaleset_state_path %%DIR%%/state;"));
is($rc, 0, 'a full valid configuration passes nginx -t') or diag $out;

($rc, $out) = $t->nginx_test(http => conf('scaleset_redis unix:/run/redis.sock;',
                                           'scaleset web;'));
is($rc, 0, 'unix socket address and defaults pass') or diag $out;

($rc, $out) = $t->nginx_test(http => conf('scaleset_redis [::1]:6379;',
                                           'scaleset web;'));
is($rc, 0, 'IPv6 literal passes') or diag $out;

my @bad = (
    [ conf('', 'scaleset web;'), qr/"scaleset_redis" is not set/,
      'scaleset without scaleset_redis' ],
    [ conf('scaleset_redis localhost:6379;', 'scaleset web;'),
      qr/invalid address "localhost:6379" in "scaleset_redis"/,
      'a host name (no resolving in workers)' ],
    [ conf('scaleset_redis 127.0.0.1;', 'scaleset web;'),
      qr/invalid address "127\.0\.0\.1" in "scaleset_redis"/, 'no port' ],
    [ conf('scaleset_redis 127.0.0.1:70000;', 'scaleset web;'),
      qr/invalid address "127\.0\.0\.1:70000"/, 'port out of range' ],
    [ conf('scaleset_redis unix:run/redis.sock;', 'scaleset web;'),
      qr/must be absolute/, 'relative unix path' ],
    [ conf('scaleset_redis 127.0.0.1:6379 db=x;', 'scaleset web;'),
      qr/invalid parameter "db=x" in "scaleset_redis"/, 'bad db' ],
    [ conf('scaleset_redis 127.0.0.1:6379 "prefix={x}";', 'scaleset web;'),
      qr/invalid parameter "prefix=\{x\}" in "scaleset_redis"/, 'bad prefix' ],
    [ conf('scaleset_redis 127.0.0.1:6379 colour=red;', 'scaleset web;'),
      qr/invalid parameter "colour=red" in "scaleset_redis"/, 'unknown parameter' ],
    [ conf(undef, 'scaleset web;', 'scaleset_redis 127.0.0.1:6380;'),
      qr/"scaleset_redis" directive is duplicate/, 'duplicate scaleset_redis' ],
    [ conf(undef, 'scaleset "bad pool";'),
      qr/invalid pool name "bad pool" in "scaleset"/, 'bad pool name' ],
    [ conf(undef, 'scaleset web balance=random;'),
      qr/invalid parameter "balance=random" in "scaleset"/, 'unknown balance' ],
    [ conf(undef, 'scaleset web resync=abc;'),
      qr/invalid parameter "resync=abc" in "scaleset"/, 'bad resync' ],
    [ conf(undef, 'scaleset web max_members=0;'),
      qr/invalid parameter "max_members=0" in "scaleset"/, 'max_members 0' ],
    [ conf(undef, 'scaleset web zone=10k;'),
      qr/"scaleset" zone=10240 is too small for max_members=256/,
      'zone too small for max_members' ],
    [ conf(undef, 'scaleset web; scaleset api;'),
      qr/"scaleset" directive is duplicate/, 'two scaleset lines in one upstream' ],
    [ conf(undef, 'server 127.0.0.1:1; scaleset web;'),
      qr/"scaleset" cannot be used with "server" lines in upstream "web"/,
      'server before scaleset' ],
    [ conf(undef, 'scaleset web; server 127.0.0.1:1;'),
      qr/has both "scaleset" and "server" lines/, 'server after scaleset' ],
    [ conf(undef, 'least_conn; scaleset web;'),
      qr/"scaleset" conflicts with the load balancing method/,
      'another balancer first' ],
    [ conf(undef, 'scaleset web;', 'upstream web2 { scaleset web; }'),
      qr/pool "web" is used twice/, 'one pool in two upstreams' ],
    [ conf(undef, 'scaleset web;', 'scaleset_gateway_id "gw 1";'),
      qr/invalid gateway id "gw 1" in "scaleset_gateway_id"/, 'bad gateway id' ],
    [ conf(undef, 'scaleset web;',
           "upstream other {\n server 127.0.0.1:1;\n scaleset_health_check;\n}"),
      qr/"scaleset_health_check" in upstream "other" without "scaleset" in \S+nginx\.conf:\d+/,
      'a health check in an upstream without scaleset' ],
    [ conf(undef, 'scaleset web;') =~ s/upstream web \{/server { listen 127.0.0.1:1; scaleset web; }\nupstream web {/r,
      qr/"scaleset" directive is not allowed here/, 'scaleset outside upstream' ],
);

for my $b (@bad) {
    my ($conf, $re, $what) = @$b;
    ($rc, $out) = $t->nginx_test(http => $conf);
    isnt($rc, 0, "nginx -t fails: $what");
    like($out, $re, "message names directive and argument: $what");
}

# without scaleset_gateway_id the host name is the id: one that is not a
# valid id fails nginx -t (a host name of its own in a UTS namespace)
SKIP: {
    skip 'needs root and unshare(1) for a UTS namespace', 4
        unless $> == 0 && system('unshare --uts true 2>/dev/null') == 0;
    # the nginx -t command line, run by a shell in a UTS namespace of its own
    my $as = sub { my ($host) = @_; sub {
        (my $q = $_[0]) =~ s/'/'\\''/g;
        "unshare --uts sh -c 'echo $host > /proc/sys/kernel/hostname "
        . "&& eval \"\$1\"' sh '$q'" } };
    ($rc, $out) = $t->nginx_test(http => conf(undef, 'scaleset web;'),
                                 wrap => $as->('bad+host'));
    isnt($rc, 0, 'nginx -t fails: a host name that is no gateway id');
    like($out, qr/the host name "bad\+host" is not a valid gateway id .*set "scaleset_gateway_id"/,
         'and says to set scaleset_gateway_id');
    ($rc, $out) = $t->nginx_test(http => conf(undef, 'scaleset web;'),
                                 wrap => $as->('gw-7.example'));
    is($rc, 0, 'a host name that is a valid id passes') or diag $out;
    ($rc, $out) = $t->nginx_test(http => conf(undef, 'scaleset web;',
                                              'scaleset_gateway_id gw1;'),
                                 wrap => $as->('bad+host'));
    is($rc, 0, 'with scaleset_gateway_id the host name does not matter')
        or diag $out;
}

$t->done;
