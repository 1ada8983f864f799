package Scaleset::Callgrind;

# Instructions per proxied request of an nginx worker, counted by
# valgrind's callgrind: the same binaries and requests give the same count
# whatever else runs on the machine, where requests per second on a shared
# VM swing by 10 %.
#
# A gateway (one worker) runs under callgrind and gets, on one keepalive
# connection (curl), W warm-up requests, two requests to /_dump, N
# requests and /_dump again.  Callgrind dumps the worker's counts on every
# /_dump (--dump-before its `return` handler, ngx_http_send_response, whose
# own cost is not collected), so the part between the second and the third
# /_dump holds the N requests and one /_dump request, and the part between
# the first two that /_dump request alone: per request =
# (Ir(part 3) - Ir(part 2)) / N.  Start-up, warm-up (every member's first
# request, which prints its address once) and exit are outside, and both
# parts are in the same process, so with the same heap.
#
# What the module does on its own clock is not collected either
# (--toggle-collect on its timer handlers and the Redis connection's event
# handlers): the lease tick, resyncs, health reports and check scans cost
# per second, not per request, and callgrind stretches seconds unevenly.
# Everything of nginx's own on the request path is collected, stock or
# with the module.  With background => 1 those handlers are collected
# too: the count is then the worker's whole work while the N requests
# ran, its own clock's share depending on how long they took (the
# method of shared/tools/ipr-bench.sh, without its start-up in the
# difference); {seconds} says how long that was.  What those handlers allocate still shapes the heap
# nginx's request pools come from: glibc's malloc is the part of the count
# that differs between runs.
#
#   my $cg = Scaleset::Callgrind->new($t);
#   $cg->backends;                              # backend nginx b1, b2
#   my $r = $cg->measure(name => 'stock', upstream => "server ...;",
#                        no_module => 1, warmup => 1000, n => 4000);
#   $r->{ipr}; $r->{self}{FUNCTION}              # per request

use strict;
use warnings;

use Carp qw(croak);
use File::Basename qw(basename);
use Time::HiRes qw(time);

# the module's handlers of timers and Redis events, not collected (none
# of them calls another: a nested one would turn collection back on)
our @BACKGROUND = qw(ngx_http_scaleset_tick ngx_http_scaleset_report
                     ngx_http_scaleset_check_scan
                     ngx_http_scaleset_check_timeout
                     ngx_http_scaleset_ev_read ngx_http_scaleset_ev_write);

sub new {
    my ($class, $t, %opt) = @_;
    return bless { t => $t, %opt }, $class;
}

# whether valgrind can run here: '' or the reason it cannot
sub unavailable {
    return 'valgrind is missing (make deps installs it)'
        unless grep { -x "$_/valgrind" } split /:/, $ENV{PATH};
    return 'the module is built with ASan (valgrind cannot run it)'
        if $Scaleset::Test::ASAN;
    return '';
}

# every handler named in @BACKGROUND exists in the module (a renamed one
# would be counted per request without a word)
sub _check_background {
    my %sym = map { (split ' ')[-1] => 1 } `nm '$Scaleset::Test::MODULE'`;
    my @missing = grep { !$sym{$_} } @BACKGROUND;
    croak "Scaleset::Callgrind: not in the module: @missing" if @missing;
}

# One backend nginx with two servers, b1 and b2, answering "b1" and "b2"
# on one keepalive connection for ever.
sub backends {
    my ($self) = @_;
    my $t = $self->{t};
    $t->start_nginx(name => 'backend', no_module => 1, workers => 1,
                    events => 'worker_connections 4096;',
                    main => 'worker_rlimit_nofile 8192;', http => <<'EOF');
    keepalive_requests 1000000;
    server { listen 127.0.0.1:%%PORT_b1%%; location / { return 200 "b1"; } }
    server { listen 127.0.0.1:%%PORT_b2%%; location / { return 200 "b2"; } }
EOF
    return map { '127.0.0.1:' . $t->port($_) } qw(b1 b2);
}

# The gateway's http block: upstream "web" (UPSTREAM, then keepalive 16)
# proxied by one server on port "gw".
sub gateway_http {
    my ($self, %c) = @_;
    my $http = $c{http} // '';
    return <<"EOF";
    $http
    upstream web {
        $c{upstream}
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%%PORT_gw%%;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /_dump { return 200 "d"; }
    }
EOF
}

# Starts the gateway NAME under callgrind, waits for ready->(NAME) (e.g.
# the members applied), sends the requests and stops it: { ipr, warmup, n,
# self => { function => Ir per request }, parts => [.. parsed dumps ..] }.
sub measure {
    my ($self, %c) = @_;
    my $t = $self->{t};
    my $name = $c{name};
    my $dir = $t->dir . "/$name";
    my ($w, $n) = ($c{warmup} // 1000, $c{n} // 4000);

    _check_background() unless $c{no_module} || $self->{checked}++;

    $t->start_nginx(
        name => $name, workers => 1, no_module => $c{no_module},
        events => 'worker_connections 4096;',
        http => $self->gateway_http(%c),
        # valgrind refuses nginx's own setrlimit: a raised limit is
        # inherited instead (2 000 members are checked at once).  Toggling
        # implies --collect-atstart=no unless given after it, and a
        # function's --dump-before works only if no other function's
        # --toggle-collect comes before its own (valgrind 3.19)
        wrap => ['sh', '-c', 'ulimit -n 8192 2>/dev/null; exec "$@"', 'sh',
                 'valgrind', '--tool=callgrind', '--vgdb=no',
                 "--callgrind-out-file=$dir/callgrind.%p",
                 '--dump-before=ngx_http_send_response',
                 (map { "--toggle-collect=$_" }
                      'ngx_http_send_response',
                      $c{background} ? () : @BACKGROUND),
                 '--collect-atstart=yes'],
        timeout => 120);
    my $master = $t->pid($name);
    my @worker = $t->nginx_workers($name);
    croak "$name: not one worker (@worker)" if @worker != 1;
    $c{ready}->($name) if $c{ready};

    # one connection; the proxied paths all of the same length
    my $url = 'http://127.0.0.1:' . $t->port('gw');
    my $dump = "-o /dev/null '$url/_dump'";
    my $t0 = time;
    my @codes = `curl -s -w '%{http_code}\\n' -o /dev/null '$url/w[000001-${\ sprintf('%06d', $w)}]' $dump $dump -o /dev/null '$url/[0000001-${\ sprintf('%07d', $n)}]' $dump`;
    my $ok = grep { /^200$/ } @codes;
    croak "$name: $ok of " . ($w + $n + 3) . " requests answered 200"
        if $ok != $w + $n + 3;
    my $seconds = time - $t0;           # warm-up included

    $t->stop($name, grace => 120);

    my @parts = map { parse("$dir/callgrind.$worker[0].$_") } 1 .. 3;
    my ($d, $p) = @parts[1, 2];
    my %self;
    for my $f (keys %{ $d->{self} }, keys %{ $p->{self} }) {
        $self{$f} = (($p->{self}{$f} // 0) - ($d->{self}{$f} // 0)) / $n;
    }
    return { ipr => ($p->{total} - $d->{total}) / $n, warmup => $w, n => $n,
             seconds => $seconds, self => \%self, parts => \@parts };
}

# The functions whose per-request self cost differs most between two
# measurements: ([function, a, b, b - a], ...), largest |b - a| first.
sub self_diff {
    my ($x, $y, $top) = @_;
    my %f = map { $_ => 1 } keys %{ $x->{self} }, keys %{ $y->{self} };
    my @d = map { [$_, $x->{self}{$_} // 0, $y->{self}{$_} // 0] } keys %f;
    $_->[3] = $_->[2] - $_->[1] for @d;
    @d = grep { abs($_->[3]) >= 0.5 }
         sort { abs($b->[3]) <=> abs($a->[3]) || $a->[0] cmp $b->[0] } @d;
    $#d = ($top // 12) - 1 if @d > ($top // 12);
    return @d;
}

# A callgrind output file: { total => Ir, self => { function => Ir } }.
# Functions without a symbol are named by address and object.
sub parse {
    my ($file) = @_;
    open my $fh, '<', $file or croak "$file: $!";
    my (%names, %self, $fn, $ob, $total, $skip);
    my $name = sub {
        my ($kind, $v) = @_;
        if ($v =~ /^\((\d+)\)(?: (.*))?$/) {
            $names{$kind}{$1} = $2 if defined $2;
            return $names{$kind}{$1};
        }
        return $v;
    };
    while (my $l = <$fh>) {
        if ($l =~ /^(\d|[+*-])/) {
            if ($skip) { $skip = 0; next }     # a call's inclusive cost
            my (undef, $ir) = split ' ', $l;
            $self{$fn} += $ir if defined $fn && defined $ir;
        } elsif ($l =~ /^ob=(.*)/) {
            $ob = $name->('ob', $1);
        } elsif ($l =~ /^fn=(.*)/) {
            my $f = $name->('fn', $1);
            $f .= ' [' . basename($ob // '?') . ']' if $f =~ /^0x/;
            $fn = $f;
        } elsif ($l =~ /^cfn=(.*)/) {
            $name->('fn', $1);
        } elsif ($l =~ /^c?(?:fl|fi|fe|cfi|cfl)=(.*)/) {
            $name->('fl', $1);
        } elsif ($l =~ /^cob=(.*)/) {
            $name->('ob', $1);
        } elsif ($l =~ /^calls=/) {
            $skip = 1;
        } elsif ($l =~ /^totals:\s*(\d+)/) {
            $total = $1;
        } elsif ($l =~ /^summary:\s*(\d+)/) {
            $total //= $1;
        }
    }
    close $fh;
    croak "$file: no totals" unless defined $total;
    return { total => $total, self => \%self };
}

1;
