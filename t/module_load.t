#!/usr/bin/perl
# The built module loads into the system nginx: nginx -t passes with
# load_module, and the running nginx serves with it loaded.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Scaleset::Test;

my $t = Scaleset::Test->new(need => [qw(nginx)]);

my ($rc, $out) = $t->nginx_test(http => <<'EOF');
    server { listen 127.0.0.1:%%PORT_http%%; location / { return 200 "up\n"; } }
EOF
is($rc, 0, 'nginx -t passes with the module loaded') or diag($out);
like($out, qr/test is successful/, 'nginx -t reports success');

($rc, $out) = $t->nginx_test(module => "$Scaleset::Test::BUILD/no-such.so",
                             http => '');
isnt($rc, 0, 'nginx -t fails for a missing module file');

$t->start_nginx(workers => 1, http => <<'EOF');
    server { listen 127.0.0.1:%%PORT_http%%; location / { return 200 "up\n"; } }
EOF
my ($code, $body) = $t->http_get('http', '/');
is($code, 200, 'nginx with the module serves');
like($t->log('nginx'), qr/start worker process/, 'workers started');

$t->done;
