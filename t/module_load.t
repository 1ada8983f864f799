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

# the shipped example configuration, with its paths moved into the test dir
{
    my $conf = $t->read_file("$Scaleset::Test::ROOT/conf-examples/nginx.conf");
    my $dir = $t->dir;
    $conf =~ s{/usr/lib/nginx/modules/ngx_http_scaleset_module\.so}
              {$Scaleset::Test::BUILD/ngx_http_scaleset_module.so};
    $conf =~ s{/var/log/nginx/error\.log}{$dir/example/error.log};
    $conf =~ s{/run/nginx\.pid}{$dir/example/nginx.pid};
    $conf =~ s{/var/lib/nginx/scaleset}{$dir/example/state};
    my $temps = "client_body_temp_path $dir/example/cb;\n"
              . "    proxy_temp_path $dir/example/px;";
    $conf =~ s/^http \{/http {\n    $temps/m
        or die "no http block in the example";
    ($rc, $out) = $t->nginx_test(name => 'example', conf => $conf);
    is($rc, 0, 'conf-examples/nginx.conf passes nginx -t') or diag($out);
}

$t->start_nginx(workers => 1, http => <<'EOF');
    server { listen 127.0.0.1:%%PORT_http%%; location / { return 200 "up\n"; } }
EOF
my ($code, $body) = $t->http_get('http', '/');
is($code, 200, 'nginx with the module serves');
like($t->log('nginx'), qr/start worker process/, 'workers started');

$t->done;
