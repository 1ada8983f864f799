package Scaleset::NginxConf;

# The one generator of the nginx.conf of an nginx a test or a benchmark
# starts: t/lib/Scaleset/Test.pm (nginx_conf) and bench/lib/bench.sh
# (bench_nginx, through bench/lib/nginx-conf.pl) both write theirs with it.
#
#   Scaleset::NginxConf::text(dir => DIR, module => PATH, ...)
#
# dir: the nginx's own directory (pid file, error log, temp paths);
# module: the load_module path (undef: the module is not loaded);
# workers (2); log_level (info); main (more main-context lines); events
# ("worker_connections 1024;"); http (inside http {}).  As root the
# workers run as root (user root), so they can read the test's files.

use strict;
use warnings;

sub text {
    my (%o) = @_;
    my $dir = $o{dir} // die "NginxConf: no dir\n";
    my $load = defined $o{module} && length $o{module}
               ? "load_module $o{module};\n" : '';
    my $user = $> == 0 ? "user root;\n" : '';
    my $workers = $o{workers} // 2;
    my $level = $o{log_level} // 'info';
    my $main = $o{main} // '';
    my $events = $o{events} // 'worker_connections 1024;';
    my $http = $o{http} // '';

    return <<"EOF2";
$load${user}daemon off;
master_process on;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log $level;
$main
events {
    $events
}

http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

$http
}
EOF2
}

1;
