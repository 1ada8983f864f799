#!/usr/bin/perl
# The dashboard (GET /ui/ on the scaler's API listener) in a real browser:
# Debian's Chromium driven by playwright-core (t/browser/dashboard.js) over
# a real scaler with a token (test:///default, 2 zones) and real Redis.  It
# asks for the token once and keeps it in sessionStorage, shows the pool
# and its instances, follows a capacity change made through the API, its
# scale button works with the token and is refused without it (the API's
# message shown, capacity unchanged in Redis); the chart and the list of
# decisions come from GET /v1/pools/{pool}/history, with the pool's
# requests/s and active connections the scaler asks a real Prometheus for.  A screenshot is kept
# in the test's directory (its path printed).  Before the browser: the
# file server itself (content types, no path traversal, no symlinks, no
# hidden or unknown files, GET/HEAD only, api.ui on reload).
# Skips only when Chromium cannot start.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $pw = $t->build . '/node/node_modules/playwright-core';
-f "$pw/package.json"
    or BAIL_OUT("playwright-core not installed under build/node: run make deps");
Scaleset::Test::_which('node') or BAIL_OUT('node not found: run make deps');
-x '/usr/bin/chromium' or BAIL_OUT('/usr/bin/chromium not found: run make deps');

$t->start_redis;
# the gateways' traffic as Prometheus scrapes it: 50 requests/s and 7
# connections in flight for pool web (a file the metrics endpoint serves,
# its counter advanced by a writer)
my $mfile = $t->dir . '/metrics.txt';
my $mport = $t->port('metrics');
$t->spawn(name => 'metrics-writer', wait => sub { -s $mfile }, cmd => [$^X, '-e', <<'EOF', $mfile]);
use Time::HiRes qw(time sleep);
my ($f, $t0) = ($ARGV[0], time);
while (1) {
    my $n = int(50 * (time - $t0));
    open my $fh, '>', "$f.tmp" or die;
    print $fh "scaleset_upstream_requests_total{pool=\"web\",member=\"web-000001\"} $n\n",
              "scaleset_upstream_active_connections{pool=\"web\",member=\"web-000001\"} 7\n";
    close $fh;
    rename "$f.tmp", $f;
    sleep 0.05;
}
EOF
$t->spawn(name => 'metrics', wait_port => 'metrics',
          cmd => [$^X, "$FindBin::Bin/lib/metrics_endpoint.pl", $mport, $mfile]);
$t->start_prometheus(scrape => ["127.0.0.1:$mport"], interval => '500ms');
$t->write_file('token', "ui-s3cret\n");
my $s = Scaleset::Scaler->new($t, api_extra => 'token_file: ' . $t->dir . '/token',
    top_extra => 'prometheus: { url: "http://127.0.0.1:' . $t->port('prometheus') . "\" }\n",
    pools => [ { name => 'web', capacity => [0, 6, 2],
                 zones => [['z1', 'test:///default'], ['z2', 'test:///default']] } ]);
$s->start;
my $port = $t->port('api');

# a raw request: the path exactly as written (no client normalisation)
sub raw {
    my ($method, $path) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10)
        or die "connect: $!";
    print $c "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    local $/;
    my $r = <$c> // '';
    my ($code) = $r =~ m{^HTTP/1\.[01] (\d+)};
    my ($head, $body) = split /\r\n\r\n/, $r, 2;
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    return ($code // 0, $body // '', \%h);
}

# --- the file server -----------------------------------------------------

my $src = $t->root . '/scaler/ui';
my ($code, $body, $h) = raw('GET', '/ui/');
is($code, 200, 'GET /ui/ without a token: 200 (static files, no data)');
like($h->{'content-type'}, qr{^text/html}, 'index.html as text/html');
is($body, $t->read_file("$src/index.html"), 'the source tree\'s ui/ by default');
like($h->{'content-security-policy'} // '', qr/default-src 'self'/, 'with a CSP');
is($h->{'x-content-type-options'}, 'nosniff', 'and nosniff');
($code, undef, $h) = raw('GET', '/ui/app.js');
is($code, 200, 'app.js');
like($h->{'content-type'}, qr{^text/javascript}, 'as text/javascript');
($code, undef, $h) = raw('GET', '/ui/style.css');
like($h->{'content-type'}, qr{^text/css}, 'style.css as text/css');
($code, undef, $h) = raw('GET', '/ui');
is($code, 301, '/ui redirects');
is($h->{location}, '/ui/', 'to /ui/');
for my $p ('/ui/../scaler.yaml', '/ui/..%2fscaler.yaml', '/ui/%2e%2e/scaler.yaml',
           '/ui/../../etc/passwd', '/ui//etc/passwd', '/ui/.hidden.js',
           '/ui/sub/app.js', '/ui/Makefile', '/ui/app.js%00.html') {
    ($code) = raw('GET', $p);
    is($code, 404, "GET $p: 404");
}
($code) = raw('POST', '/ui/');
is($code, 405, 'POST /ui/: 405');
($code, $body, $h) = raw('HEAD', '/ui/app.js');
is($code, 200, 'HEAD /ui/app.js: 200');
is($body, '', 'without a body');
($code) = raw('GET', '/v1/pools');
is($code, 401, 'the API still wants the token');

# api.ui: another directory, taken on reload; a symlink in it is not
# followed, a file with an unknown extension not served
{
    my $ui = $t->dir . '/ui';
    mkdir $ui or die;
    $t->write_file("$ui/index.html", "<p>other</p>\n");
    $t->write_file("$ui/secret.key", "key\n");
    symlink($t->dir . '/token', "$ui/token.txt") or die "symlink: $!";
    $s->{opt}{api_extra} .= ", ui: $ui";
    $s->write_config;
    $t->signal('scaler', 'HUP');
    $t->wait_for(sub { (raw('GET', '/ui/'))[1] eq "<p>other</p>\n" }, timeout => 15,
                 what => 'api.ui after reload');
    is((raw('GET', '/ui/'))[1], "<p>other</p>\n", 'api.ui serves its directory after a reload');
    is((raw('GET', '/ui/token.txt'))[0], 404, 'a symlink is not followed');
    is((raw('GET', '/ui/secret.key'))[0], 404, 'an unknown extension is not served');
    # back to the default
    $s->{opt}{api_extra} =~ s/, ui: .*//;
    $s->write_config;
    $t->signal('scaler', 'HUP');
    $t->wait_for(sub { (raw('GET', '/ui/'))[1] eq $t->read_file("$src/index.html") },
                 timeout => 15, what => 'default ui after reload');
    $t->write_file('bad.yaml', $t->read_file($t->dir . '/scaler.yaml')
                   =~ s/api: \{ /api: { ui: $ui\/nope, /r);
    my $bin = $t->bin('scaleset-scaler');
    my $out = qx{$bin -t -c @{[ $t->dir ]}/bad.yaml 2>&1};
    like($out, qr/bad\.yaml:\d+: api\.ui ".*\/nope" is not a directory/,
         'scaleset-scaler -t: api.ui that is no directory, with file:line');
}

# --- the browser -----------------------------------------------------------

$t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 20,
             what => '2 members');
my $srv = $t->spawn(name => 'browser', cmd => ['node', $t->root . '/t/browser/dashboard.js'],
    env => { PLAYWRIGHT_CORE => $pw, SCALESET_API => "http://127.0.0.1:$port",
             SCALESET_TOKEN => 'ui-s3cret', SCALESET_DIR => $t->dir });
$t->wait_for(sub { !$t->alive('browser') }, timeout => 300, what => 'the browser steps');
$t->stop('browser');
my @lines = split /\n/, $t->log('browser');
my $json = JSON::PP->new;
my ($steps, $skip, $shot) = (0);
for my $l (@lines) {
    my $o = eval { $json->decode($l) };
    unless (ref $o eq 'HASH') { diag "browser: $l" if length $l; next }
    if (exists $o->{skip}) { $skip = $o->{skip}; last }
    if (exists $o->{screenshot}) { $shot = $o->{screenshot}; next }
    $steps++;
    ok($o->{ok}, "browser: $o->{name}") or diag $o->{diag} // '';
}
if (defined $skip) {
    SKIP: { skip $skip, 1 }
} else {
    cmp_ok($steps, '>=', 15, "the browser ran its steps ($steps)");
    ok($shot && -s $shot, 'a screenshot was taken');
    if ($shot && -s $shot) {
        # kept beyond the temp dir (removed when the test passes)
        require File::Copy;
        mkdir $t->build . '/artifacts';
        my $keep = $t->build . '/artifacts/ui_dashboard.png';
        File::Copy::copy($shot, $keep);
        diag "screenshot: $shot (kept as $keep)";
    }
    is($t->redis->get('scaleset:{web}:capacity'), 1,
       'Redis has the capacity the scale button set, not the refused one');
}

$t->done;
