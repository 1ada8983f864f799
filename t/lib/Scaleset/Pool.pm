package Scaleset::Pool;

# Helpers for the gateway tests: change a pool's members in Redis the way
# the scaler does (one transaction: HSET/HDEL members, INCR epoch, PUBLISH
# the new epoch) and count which backend answered.

use strict;
use warnings;

use Exporter qw(import);
our @EXPORT = qw(pool_set pool_del pool_replace count_backends by_worker
                 addr);

my $SCRIPT = <<'LUA';
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
    redis.call('HSET', KEYS[1], ARGV[2 + 2 * i], ARGV[3 + 2 * i])
end
local d = tonumber(ARGV[2 + 2 * n])
for i = 1, d do
    redis.call('HDEL', KEYS[1], ARGV[2 + 2 * n + i])
end
if ARGV[3 + 2 * n + d] == 'replace' then
    local keep = {}
    for i = 0, n - 1 do keep[ARGV[2 + 2 * i]] = true end
    for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
        if not keep[f] then redis.call('HDEL', KEYS[1], f) end
    end
end
local e = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], tostring(e))
return e
LUA

sub _run {
    my ($redis, $pool, $set, $del, $mode, $prefix) = @_;
    $prefix //= 'scaleset:';
    my @keys = map { "$prefix\{$pool\}:$_" } qw(members epoch events);
    my @set = map { ($_, $set->{$_}) } sort keys %$set;
    my @args = (scalar(keys %$set), @set, scalar(@$del), @$del, $mode);
    return $redis->eval($SCRIPT, 3, @keys, @args);
}

# pool_set($redis, 'web', { id => record, ... }) -> new epoch
sub pool_set { my ($r, $p, $set, %o) = @_; _run($r, $p, $set, [], 'add', $o{prefix}) }

# pool_del($redis, 'web', id, ...) -> new epoch
sub pool_del { my ($r, $p, @ids) = @_; _run($r, $p, {}, [@ids], 'add') }

# the pool holds exactly these members afterwards
sub pool_replace { my ($r, $p, $set, %o) = @_; _run($r, $p, $set, [], 'replace', $o{prefix}) }

# GET path n times through port; returns { body-line => count }
sub count_backends {
    my ($t, $port, $n, $path) = @_;
    my %c;
    for (1 .. $n) {
        my ($code, $body) = $t->http_get($port, $path // '/');
        my $k = $code == 200 ? ($body // '') : "status-$code";
        $k =~ s/\s+$//;
        $c{$k}++;
    }
    return \%c;
}

# "127.0.0.1:PORT" of a named port
sub addr { my ($t, $name) = @_; return '127.0.0.1:' . $t->port($name) }

# Sends requests until each of the nginx's workers answered at least $per
# of them (the server must "listen ... reuseport" so connections spread
# over the workers); returns { pid => { backend => count } }.
sub by_worker {
    my ($t, $port, $per, %opt) = @_;
    my @workers = $t->nginx_workers($opt{name} // 'nginx');
    my (%seen, %n);
    for my $i (1 .. $per * @workers * 20) {
        my ($code, $body, $h) = $t->http_get($port, '/');
        my $pid = $h->{'x-pid'} // 'none';
        my $k = $code == 200 ? ($body // '') : "status-$code";
        $k =~ s/\s+$//;
        $seen{$pid}{$k}++;
        $n{$pid}++;
        last if @workers == grep { ($n{$_} // 0) >= $per } @workers;
    }
    return \%seen;
}

1;
