package Scaleset::Callgrind;

# Instructions per proxied request of an nginx worker, counted by
# valgrind's callgrind: the same binaries and requests give the same count
# whatever else runs on the machine, where requests per second on a shared
# VM swing by 10 %.
#
# A gateway (one worker) is started under callgrind twice; each time it
# serves N requests from one keepalive client (curl) and quits.  Per
# request = (Ir(N2) - Ir(N1)) / (N2 - N1) of the worker, so start-up, the
# first connections and exit cancel.  What the module does on its own
# clock is not collected (callgrind --toggle-collect on its timer handlers
# and the Redis connection's event handlers): the lease tick, resyncs,
# health reports and check scans cost per second, not per request, and
# callgrind stretches seconds unevenly.  Everything of nginx's own is
# collected, stock or with the module.
#
#   my $cg = Scaleset::Callgrind->new($t);
#   $cg->backends;                              # backend nginx b1, b2
#   my $r = $cg->measure(name => 'stock', upstream => "server ...;",
#                        no_module => 1, n1 => 1000, n2 => 5000);
#   $r->{ipr}; $r->{self}{FUNCTION}              # per request

use strict;
use warnings;

use Carp qw(croak);
use File::Basename qw(basename);

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
    }
EOF
}

# Starts the gateway NAME under callgrind, waits for ready->(NAME) (e.g.
# the members applied), sends N requests and stops it.  Returns the
# worker's { total => Ir, self => { function => Ir } }.
sub count {
    my ($self, $n, %c) = @_;
    my $t = $self->{t};
    my $name = "$c{name}-$n";
    my $dir = $t->dir . "/$name";

    _check_background() unless $c{no_module} || $self->{checked}++;

    $t->start_nginx(
        name => $name, workers => 1, no_module => $c{no_module},
        events => 'worker_connections 4096;',
        http => $self->gateway_http(%c),
        # valgrind refuses nginx's own setrlimit: a raised limit is
        # inherited instead (2 000 members are checked at once);
        # toggling implies --collect-atstart=no unless given after it
        wrap => ['sh', '-c', 'ulimit -n 8192 2>/dev/null; exec "$@"', 'sh',
                 'valgrind', '--tool=callgrind', '--vgdb=no',
                 "--callgrind-out-file=$dir/callgrind.%p",
                 (map { "--toggle-collect=$_" } @BACKGROUND),
                 '--collect-atstart=yes'],
        timeout => 120);
    my $master = $t->pid($name);
    $c{ready}->($name) if $c{ready};

    # one connection, N requests; every path of the same length
    my $port = $t->port('gw');
    my @codes = `curl -s -o /dev/null -w '%{http_code}\\n' 'http://127.0.0.1:$port/[000001-${\ sprintf('%06d', $n)}]'`;
    my $ok = grep { /^200$/ } @codes;
    croak "$name: $ok of $n requests answered 200" if $ok != $n;

    $t->stop($name, grace => 120);

    my @files = grep { !/\.$master$/ } glob "$dir/callgrind.*";
    croak "$name: not one worker profile (@files)" if @files != 1;
    my $p = parse($files[0]);
    $p->{file} = $files[0];
    return $p;
}

# count() at n1 and n2 requests: { ipr, n1, n2, runs => [..],
# self => { function => Ir per request } }
sub measure {
    my ($self, %c) = @_;
    my ($n1, $n2) = ($c{n1} // 1000, $c{n2} // 5000);
    my $a = $self->count($n1, %c);
    my $b = $self->count($n2, %c);
    my %self;
    for my $f (keys %{ $a->{self} }, keys %{ $b->{self} }) {
        $self{$f} = (($b->{self}{$f} // 0) - ($a->{self}{$f} // 0))
                    / ($n2 - $n1);
    }
    return { ipr => ($b->{total} - $a->{total}) / ($n2 - $n1),
             n1 => $n1, n2 => $n2, runs => [$a, $b], self => \%self };
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
