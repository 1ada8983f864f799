#!/usr/bin/perl
# The scaler's Prometheus client (scaler/autoscale/prom.c, through the promquery
# driver) against a real Prometheus scraping a metrics endpoint whose
# values the test controls: a value and its change, several series with
# and without reduce, an empty vector, a PromQL error, an infinite value,
# credentials (bearer, basic) and error pages through a stand-in proxy,
# and Prometheus killed -> unreachable.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new(need => [qw(prometheus)]);

my $driver = $t->build . '/t/helpers/promquery';
-x $driver or BAIL_OUT("$driver not built: run make units");

# the metrics endpoint serves the file the test writes, read per request
my $metrics = $t->dir . '/metrics.txt';
sub set_metrics {
    my ($text) = @_;
    $t->write_file('metrics.tmp', $text);
    rename $t->dir . '/metrics.tmp', $metrics or die "rename: $!";
}

set_metrics(<<'EOF');
scaleset_test_load{instance_id="a"} 42
scaleset_test_load{instance_id="b"} 8
EOF

my $mport = $t->port('metrics');

$t->spawn(name => 'metrics',
          cmd => [$^X, "$FindBin::Bin/lib/metrics_endpoint.pl", $mport, $metrics],
          wait_port => 'metrics');
my $prom = $t->start_prometheus(scrape => ["127.0.0.1:$mport"],
                                interval => '1s');
our $url = "http://127.0.0.1:$prom->{port}";

sub query {
    my (@args) = @_;
    my $out = qx{$driver $url @{[ map { "'$_'" } @args ]} 2>&1};
    chomp $out;
    return $out;
}

# the first scrape
ok($t->wait_for(sub { query('scaleset_test_load{instance_id="a"}')
                          =~ /^ok 42\b/ }, timeout => 20,
                what => 'first scrape'),
   'a single series: its value');

set_metrics(<<'EOF');
scaleset_test_load{instance_id="a"} 77.5
scaleset_test_load{instance_id="b"} 8
EOF
ok($t->wait_for(sub { query('scaleset_test_load{instance_id="a"}')
                          =~ /^ok 77\.5\b/ }, timeout => 10,
                what => 'new value'),
   'the value follows the endpoint');

like(query('scaleset_test_load'), qr/^multiple - 2 series and no reduce/,
     'several series without reduce: multiple');
like(query('scaleset_test_load', 'sum'), qr/^ok 85\.5\b/, 'reduce sum');
like(query('scaleset_test_load', 'avg'), qr/^ok 42\.75\b/, 'reduce avg');
like(query('scaleset_test_load', 'max'), qr/^ok 77\.5\b/, 'reduce max');
like(query('scaleset_test_load', 'min'), qr/^ok 8\b/, 'reduce min');
like(query('sum(scaleset_test_load)'), qr/^ok 85\.5\b/,
     'an aggregating query: one series');
like(query('scalar(sum(scaleset_test_load))'), qr/^ok 85\.5\b/,
     'a scalar result');

like(query('scaleset_test_absent'), qr/^empty - /, 'no series: empty');
like(query('sum(scaleset_test_load{instance_id="zzz"})'), qr/^empty - /,
     'an empty sum: empty');
like(query('sum(rate(scaleset_test_load[1m]'),
     qr/^prometheus - bad_data: .*parse error/,
     'a PromQL syntax error: prometheus, with errorType');
like(query('scaleset_test_load{instance_id="a"} / 0'), qr/^nan - /,
     'division by zero: +Inf is nan');
like(query('scaleset_test_load{instance_id="a"} * NaN'),
     qr/^nan - /, 'NaN: nan');

# the bearer token header is sent; Prometheus itself ignores it
{
    local $ENV{PROM_TOKEN} = 'secret';
    like(query('sum(scaleset_test_load)'), qr/^ok 85\.5\b/,
         'with a bearer token, Prometheus still answers');
}

# Prometheus behind a proxy that wants credentials (a small Perl server
# standing in for it): 401 without, the answer with a token or basic auth;
# a 502 page from the proxy is an http error
my $proxy = $t->write_file('proxy.pl', <<'PERL');
use strict;
use IO::Socket::INET;
my ($port) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port", Listen => 16,
                              ReuseAddr => 1) or die "listen: $!";
while (my $c = $l->accept) {
    my ($head, $auth) = ('', '');
    while (defined(my $line = <$c>)) {
        $head .= $line;
        $auth = $1 if $line =~ /^Authorization:\s*(.*?)\r?$/i;
        last if $line eq "\r\n" || $line eq "\n";
    }
    my ($code, $body);
    if ($head =~ /query=gateway/) {
        ($code, $body) = ('502 Bad Gateway', '<html>bad gateway</html>');
    } elsif ($auth eq 'Bearer secret' || $auth eq 'Basic dTpw') {
        ($code, $body) = ('200 OK', '{"status":"success","data":'
            . '{"resultType":"scalar","result":[1,"7"]}}');
    } else {
        ($code, $body) = ('401 Unauthorized', 'unauthorized');
    }
    print $c "HTTP/1.0 $code\r\nContent-Length: " . length($body)
        . "\r\nConnection: close\r\n\r\n$body";
    close $c;
}
PERL
my $pport = $t->port('proxy');
$t->spawn(name => 'proxy', cmd => [$^X, $proxy, $pport], wait_port => 'proxy');
{
    local $url = "http://127.0.0.1:$pport";
    like(query('x'), qr/^http - HTTP 401/, 'no credentials: http 401');
    {
        local $ENV{PROM_TOKEN} = 'secret';
        like(query('x'), qr/^ok 7\b/, 'bearer token accepted');
    }
    {
        local $ENV{PROM_TOKEN} = 'wrong';
        like(query('x'), qr/^http - HTTP 401/, 'a wrong token: http 401');
    }
    {
        local @ENV{qw(PROM_USER PROM_PASSWORD)} = qw(u p);
        like(query('x'), qr/^ok 7\b/, 'basic auth accepted');
    }
    like(query('gateway'), qr/^http - HTTP 502/, 'a proxy error page: http');
}

$t->kill_server('prometheus', 'KILL');
ok($t->wait_for(sub { !Scaleset::Test::port_open($prom->{port}) }, timeout => 5,
                what => 'prometheus gone'), 'prometheus killed');
like(query('sum(scaleset_test_load)'), qr/^unreachable - /,
     'prometheus killed: unreachable');

$t->done;
