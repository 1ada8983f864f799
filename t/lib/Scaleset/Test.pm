package Scaleset::Test;

# Test harness for scaleset: starts real servers (redis-server, nginx with
# the freshly built module, prometheus, the scaler, test backends) on free
# loopback ports inside a temporary directory, waits until each answers,
# and stops everything it started, by PID, even when the test dies.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h setsid);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Time::HiRes qw(time sleep);
use Scaleset::NginxConf;
use Test::More ();

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $BUILD = $ENV{SCALESET_BUILD} // "$ROOT/build";

# SCALESET_NGINX_ASAN=1 (make check-asan): the module built with ASan and
# UBSan, loaded into the system nginx with the ASan runtime preloaded
# (nginx frees little at exit by design, so leak detection is off).
our $ASAN = $ENV{SCALESET_NGINX_ASAN};
our $MODULE = $ASAN ? "$BUILD/asan/ngx_http_scaleset_module.so"
                    : "$BUILD/ngx_http_scaleset_module.so";
# a sanitizer report makes our programs exit non-zero; leaks are reported
# too (the scaler frees everything at exit)
$ENV{ASAN_OPTIONS} //= 'detect_leaks=1:abort_on_error=0'
    if $ENV{SCALESET_ASAN_BINS};
$ENV{UBSAN_OPTIONS} //= 'print_stacktrace=1:halt_on_error=1'
    if $ENV{SCALESET_ASAN_BINS};
our %NGINX_ENV = $ASAN ? (
    LD_PRELOAD => (glob('/usr/lib/*/libasan.so.[0-9]*'))[0] // '',
    ASAN_OPTIONS => 'detect_leaks=0:abort_on_error=0:log_path=stderr',
    UBSAN_OPTIONS => 'print_stacktrace=1',
) : ();

my @ALIVE;          # every harness object not yet cleaned up
my $SIGNALLED;

# a closed output pipe must not kill the test before END stops the servers
$SIG{PIPE} = 'IGNORE';

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        $SIGNALLED = $sig;
        $SIG{$_} = 'IGNORE' for qw(INT TERM HUP);
        # exit runs END blocks, which stop the servers
        exit(128 + 1);
    };
}

END {
    my $status = $?;
    for my $t (@ALIVE) {
        $t->_cleanup($status);
    }
    _release_ports();
    $? = $status;
}


sub new {
    my ($class, %opt) = @_;

    # a running test's directory is scaleset-run-*; one kept after the
    # test (failed, or SCALESET_KEEP) is renamed scaleset-test-*, so that
    # clearing kept ones (rm -rf /tmp/scaleset-test-*) never removes the
    # directory of a test still running
    my $self = bless {
        dir      => tempdir('scaleset-run-XXXXXX', TMPDIR => 1),
        ports    => {},
        servers  => {},      # name -> { pid, log, ... }
        order    => [],
        owner    => $$,
        verbose  => $ENV{TEST_VERBOSE} || 0,
    }, $class;

    chmod 0755, $self->{dir};

    for my $need (@{ $opt{need} || [] }) {
        $self->_need($need);
    }

    push @ALIVE, $self;
    return $self;
}

sub dir { $_[0]{dir} }
sub root { $ROOT }
sub build { $BUILD }

# A program of ours in build/: the sanitizer build under build/asan/ when
# SCALESET_ASAN_BINS=1 (make check-asan), e.g. $t->bin('scaleset-scaler').
sub bin {
    my ($self, $name) = @_;
    return "$BUILD/asan/$name" if $ENV{SCALESET_ASAN_BINS};
    return "$BUILD/$name";
}

sub _need {
    my ($self, $what) = @_;
    my %bin = (
        redis      => 'redis-server',
        nginx      => 'nginx',
        prometheus => 'prometheus',
        promtool   => 'promtool',
        wrk        => 'wrk',
        module     => undef,
        scaler     => undef,
    );
    croak "unknown need '$what'" unless exists $bin{$what};

    # a missing dependency is a failure, not a skip: make check installs them
    if ($what eq 'module') {
        -f $MODULE
            or Test::More::BAIL_OUT("module not built: run make");
    } elsif ($what eq 'scaler') {
        -x "$BUILD/scaleset-scaler"
            or Test::More::BAIL_OUT("scaler not built: run make");
    } else {
        _which($bin{$what})
            or Test::More::BAIL_OUT("$bin{$what} not found: run make deps");
    }
    $self->_need('module') if $what eq 'nginx';
}

sub _which {
    my ($prog) = @_;
    for my $d (split /:/, "$ENV{PATH}:/usr/sbin:/sbin") {
        return "$d/$prog" if -x "$d/$prog";
    }
    return undef;
}


# --- ports -------------------------------------------------------------

# A free port on 127.0.0.1, remembered by name.  The port is found by
# binding port 0; ports handed out in this run are never handed out twice.
sub port {
    my ($self, $name) = @_;
    croak "port needs a name" unless defined $name;
    return $name if $name =~ /^\d+$/;
    return $self->{ports}{$name} //= _free_port();
}

my %HANDED;

# A port handed out is free when handed, but nothing listens on it until
# its server starts (and some are meant to stay closed): so that tests
# run side by side (make check's prove -j) never get the same one, each
# port handed is claimed machine-wide as a file PORT_DIR/PORT holding the
# claiming process's PID, linked into place (atomic, never empty) and
# removed when that process ends if it still holds its PID; a claim whose
# process is gone (a test killed) for 2 s is taken over.
our $PORT_DIR = ($ENV{SCALESET_PORT_DIR} // '/tmp/scaleset-ports');
my %CLAIMED;    # path => the PID that claimed it

sub _claim_port {
    my ($port) = @_;
    unless (-d $PORT_DIR) {
        mkdir($PORT_DIR, 01777) or -d $PORT_DIR
            or croak "cannot make $PORT_DIR: $!";
        chmod 01777, $PORT_DIR;
    }
    my $f = "$PORT_DIR/$port";
    # the PID is in the claim from its first moment: written to a file of
    # this process's own, then linked into place (link(2) fails when the
    # claim exists: O_EXCL's semantics, never an empty claim)
    my $tmp = "$PORT_DIR/.new.$$.$port";
    open(my $fh, '>', $tmp) or croak "cannot write $tmp: $!";
    print $fh "$$\n";
    close($fh) or croak "cannot write $tmp: $!";
    my $ok = 0;
    for (1 .. 2) {
        if (link($tmp, $f)) {
            $CLAIMED{$f} = $$;
            $ok = 1;
            last;
        }
        croak "cannot claim $f: $!" unless $!{EEXIST};
        my $pid = _claim_pid($f);
        next unless defined $pid;            # released meanwhile: again
        # held by a live process (another test), or unreadable: not ours
        last if $pid !~ /^\d+$/ || kill(0, $pid) || $!{EPERM};
        # its test is gone (killed -9): taken over, unless it was claimed
        # again a moment ago by another test taking it over too
        my $age = time - ((stat $f)[9] // time);
        last if $age < 2;
        unlink $f;
    }
    unlink $tmp;
    return $ok;
}

# the PID a claim file holds ('' when it says nothing), undef when gone
sub _claim_pid {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    my $pid = <$fh> // '';
    close $fh;
    chomp $pid;
    return $pid;
}

# at the end, once the servers are stopped (the END block above): this
# process's claims that still hold its PID (not a forked child's exit,
# not a claim another test took over)
sub _release_ports {
    for my $f (keys %CLAIMED) {
        next unless $CLAIMED{$f} == $$;
        unlink $f if (_claim_pid($f) // '') eq $$;
        delete $CLAIMED{$f};
    }
}

sub _free_port {
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
            Listen => 1, ReuseAddr => 0,
        ) or croak "cannot bind a free port: $!";
        my $port = $s->sockport;
        close $s;
        next if $HANDED{$port}++;
        next unless _claim_port($port);
        return $port;
    }
    croak "no free port found";
}

sub port_open {
    my ($port, $host) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => $host // '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 1,
    );
    return 0 unless $s;
    close $s;
    return 1;
}


# --- files -------------------------------------------------------------

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    make_path(dirname($path));
    open my $fh, '>', $path or croak "cannot write $path: $!";
    print $fh $content;
    close $fh or croak "cannot write $path: $!";
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return undef;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c;
}

# replaces %%PORT_name%%, %%DIR%%, %%ROOT%% and %%BUILD%%
sub expand {
    my ($self, $text) = @_;
    $text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    $text =~ s/%%DIR%%/$self->{dir}/g;
    $text =~ s/%%ROOT%%/$ROOT/g;
    $text =~ s/%%BUILD%%/$BUILD/g;
    return $text;
}


# --- processes -----------------------------------------------------------

# Starts a process in the background with its output in DIR/NAME.log.
#   cmd => [...], env => {...}, wait_port => PORT, wait => sub { ... },
#   timeout => seconds, cwd => dir
sub spawn {
    my ($self, %opt) = @_;
    my $name = $opt{name} or croak "spawn needs a name";
    croak "a server named '$name' is running" if $self->{servers}{$name};

    my $log = "$self->{dir}/$name.log";
    my $pid = fork();
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        chdir($opt{cwd} // $self->{dir});
        %ENV = (%ENV, %{ $opt{env} || {} });
        for my $sig (qw(INT TERM HUP PIPE)) { $SIG{$sig} = 'DEFAULT' }
        { no warnings 'exec'; exec { $opt{cmd}[0] } @{ $opt{cmd} }; }
        print STDERR "exec $opt{cmd}[0]: $!\n";
        POSIX::_exit(127);
    }

    my $srv = { name => $name, pid => $pid, log => $log, cmd => $opt{cmd},
                stop_signal => $opt{stop_signal} // 'TERM', %{ $opt{extra} || {} } };
    $self->{servers}{$name} = $srv;
    push @{ $self->{order} }, $name;

    my $timeout = $opt{timeout} // 20;
    if (defined $opt{wait_port}) {
        my $port = $self->port($opt{wait_port});
        $self->_wait_started($srv, sub { port_open($port) }, $timeout,
                             "$name listening on $port");
    }
    if ($opt{wait}) {
        $self->_wait_started($srv, $opt{wait}, $timeout, "$name ready");
    }
    return $srv;
}

sub _wait_started {
    my ($self, $srv, $cond, $timeout, $what) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        return 1 if $cond->();
        my $r = waitpid($srv->{pid}, WNOHANG);
        if ($r == $srv->{pid}) {
            my $st = $?;
            delete $self->{servers}{$srv->{name}};
            Test::More::diag($self->log($srv->{name}) // '');
            croak "$srv->{name} exited (status $st) before $what";
        }
        sleep 0.02;
    }
    Test::More::diag($self->log($srv->{name}) // '');
    croak "timed out after ${timeout}s waiting for $what";
}

sub server {
    my ($self, $name) = @_;
    return $self->{servers}{$name};
}

sub pid {
    my ($self, $name) = @_;
    my $s = $self->{servers}{$name} or return undef;
    return $s->{pid};
}

sub alive {
    my ($self, $name) = @_;
    my $s = $self->{servers}{$name} or return 0;
    return waitpid($s->{pid}, WNOHANG) == 0 ? 1 : 0;
}

# signal a server without forgetting it
sub signal {
    my ($self, $name, $sig) = @_;
    my $s = $self->{servers}{$name} or croak "no server '$name'";
    CORE::kill($sig, $s->{pid});
}

# stop a server: its stop signal, then KILL after a grace period
sub stop {
    my ($self, $name, %opt) = @_;
    my $s = delete $self->{servers}{$name} or return;
    @{ $self->{order} } = grep { $_ ne $name } @{ $self->{order} };
    _terminate($s->{pid}, $opt{signal} // $s->{stop_signal},
               $opt{grace} // 10);
    $s->{stopped} = 1;
    $self->{stopped}{$name} = $s;
    return $s;
}

# kill a server at once with a signal (default KILL) and reap it
sub kill_server {
    my ($self, $name, $sig) = @_;
    return $self->stop($name, signal => $sig // 'KILL', grace => 5);
}

sub _terminate {
    my ($pid, $sig, $grace) = @_;
    return unless $pid;
    return if waitpid($pid, WNOHANG) != 0;
    CORE::kill($sig, $pid);
    # a server a test stopped (SIGSTOP) acts on the signal only when
    # continued
    CORE::kill('CONT', $pid);
    my $end = time + $grace;
    while (time < $end) {
        return if waitpid($pid, WNOHANG) != 0;
        sleep 0.02;
    }
    CORE::kill('KILL', $pid);
    # whatever it left in its session (nginx workers) goes too
    CORE::kill('KILL', -$pid);
    waitpid($pid, 0);
}

sub log {
    my ($self, $name) = @_;
    my $s = $self->{servers}{$name} // $self->{stopped}{$name};
    my $log = $s ? ($s->{error_log} // $s->{log}) : "$self->{dir}/$name.log";
    my $text = $self->read_file($log);
    return $text if defined $text || !$s || $s->{stopped} || $s->{error_log};
    # not there yet: a server just forked has not opened it, and its
    # stdout is still the test's own (prove's pipe: reading it would wait
    # for ever)
    return undef if -d $self->{dir};
    # the file is gone while its server runs (the directory removed by
    # something else): its output is still the server's stdout, if that
    # is a file
    $self->_dir_gone;
    my $out = readlink("/proc/$s->{pid}/fd/1") // '';
    return undef unless $out =~ m{^/};
    return $self->read_file("/proc/$s->{pid}/fd/1");
}

# says once that the test's directory went away under it
sub _dir_gone {
    my ($self) = @_;
    return if -d $self->{dir} || $self->{gone}++;
    Test::More::diag("$self->{dir} was removed while the test ran, by "
                     . "something other than this test");
}

sub wait_for {
    my ($self, $cond, %opt) = @_;
    my $timeout = $opt{timeout} // 10;
    my $end = time + $timeout;
    while (1) {
        my $r = eval { $cond->() };
        return $r if $r;
        last if time >= $end;
        sleep($opt{interval} // 0.02);
    }
    Test::More::diag("timed out after ${timeout}s waiting for "
                     . ($opt{what} // 'a condition'));
    return 0;
}


# --- gdb ---------------------------------------------------------------

# Why gdb cannot hold a process here (not installed, ptrace refused), or
# undef when it can: tests that stop a worker at an instruction skip with it.
sub gdb_unusable {
    my $gdb = _which('gdb') or return 'gdb not found (make deps installs it)';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) { sleep 30; POSIX::_exit(0) }
    my $out = `$gdb -p $pid -batch -nx -ex 'print 1' 2>&1`;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $out =~ /\$1 = 1/ ? undef
         : 'gdb cannot attach to a process (ptrace not permitted)';
}

# $t->gdb(PID, [command, ...], release => sub { ... }): gdb attached to
# PID in batch mode, running each command (-ex), its output in
# DIR/gdb.log; returns a sub that is true once gdb has exited.  If it
# still runs when the servers are stopped, release (what makes its script
# go on to its end) is called and it gets 3 s, then it is killed.
sub gdb {
    my ($self, $pid, $cmds, %opt) = @_;
    my $gdb = _which('gdb')
        or Test::More::BAIL_OUT('gdb not found: run make deps');
    my $log = "$self->{dir}/gdb.log";
    my $gpid = fork // die "fork: $!";
    if ($gpid == 0) {
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        no warnings 'exec';
        exec $gdb, '-p', $pid, '-batch', '-nx', map { ('-ex', $_) } @$cmds;
        POSIX::_exit(127);
    }
    my $gone = 0;
    my $done = sub { $gone ||= waitpid($gpid, WNOHANG) == $gpid };
    $self->before_stop(sub {
        return if $done->();
        if ($opt{release}) {
            $opt{release}->();
            $self->wait_for($done, timeout => 3, what => 'gdb done');
        }
        unless ($done->()) { kill 'KILL', $gpid; waitpid($gpid, 0) }
    });
    return $done;
}


# --- redis -------------------------------------------------------------

# $t->start_redis(name => 'redis', conf => "more redis.conf lines",
#                 replicaof => 'name of the master')
sub start_redis {
    my ($self, %opt) = @_;
    $self->_need('redis');
    my $name = $opt{name} // 'redis';
    my $port = $self->port($name);
    my $extra = $self->expand($opt{conf} // '');
    $extra .= "\nreplicaof 127.0.0.1 " . $self->port($opt{replicaof}) . "\n"
        if $opt{replicaof};
    my $conf = $self->write_file("$name.conf", <<"EOF");
bind 127.0.0.1
port $port
dir $self->{dir}
dbfilename $name.rdb
save ""
appendonly no
daemonize no
logfile ""
protected-mode yes
$extra
EOF
    my $srv = $self->spawn(
        name => $name, cmd => [_which('redis-server'), $conf],
        wait => sub { _redis_ping($port) },
    );
    $srv->{port} = $port;
    return $srv;
}

# Redis Sentinel: sentinels (default s1, s2, s3) watching the redis
# server named by monitor, on free ports, e.g.
#   my @s = $t->start_sentinels(monitor => 'redis', master => 'mymaster');
# names => [...], quorum (default: a majority), down_after (ms, 1000),
# failover_timeout (ms, 5000).  Waits until every sentinel sees the
# others and the replicas the master has.  Returns the sentinels' names.
sub start_sentinels {
    my ($self, %opt) = @_;
    _which('redis-sentinel')
        or Test::More::BAIL_OUT('redis-sentinel not found: run make deps');
    my $master = $opt{master} // 'mymaster';
    my $monitor = $opt{monitor} // 'redis';
    my $mport = $self->port($monitor);
    my @names = @{ $opt{names} // [qw(s1 s2 s3)] };
    my $quorum = $opt{quorum} // int(@names / 2) + 1;
    my $down = $opt{down_after} // 1000;
    my $failover = $opt{failover_timeout} // 5000;
    for my $name (@names) {
        my $port = $self->port($name);
        # sentinel rewrites its configuration file: one of its own
        my $conf = $self->write_file("$name.conf", <<"EOF");
bind 127.0.0.1
port $port
dir $self->{dir}
daemonize no
logfile ""
sentinel monitor $master 127.0.0.1 $mport $quorum
sentinel down-after-milliseconds $master $down
sentinel failover-timeout $master $failover
sentinel parallel-syncs $master 1
EOF
        my $srv = $self->spawn(name => $name,
                               cmd => [_which('redis-sentinel'), $conf],
                               wait => sub { _redis_ping($port) });
        $srv->{port} = $port;
    }
    my $replicas = $self->redis($monitor, fresh => 1)
                        ->info('replication')->{connected_slaves} // 0;
    for my $name (@names) {
        my $s = $self->redis($name, fresh => 1);
        $self->wait_for(sub {
            @{ $s->sentinel('sentinels', $master) } == @names - 1
            && @{ $s->sentinel('replicas', $master) } == $replicas
        }, timeout => 30, what => "$name sees the other sentinels")
            or Test::More::BAIL_OUT("sentinel $name: no quorum");
    }
    return @names;
}

# the master's (host, port) as a sentinel names it now
sub sentinel_master {
    my ($self, $name, $master) = @_;
    my $s = $self->redis($name, fresh => 1);
    my $a = eval { $s->sentinel('get-master-addr-by-name',
                                $master // 'mymaster') };
    return $a ? @$a : ();
}

# answering: PONG, or refusing an unauthenticated PING (requirepass)
sub _redis_ping {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1) or return 0;
    print $s "PING\r\n";
    my $line = <$s>;
    close $s;
    # a default user that needs a password answers too (an ACL test)
    return defined $line && $line =~ /^(\+PONG|-NOAUTH)/;
}

# a Redis.pm client to the named redis (a fresh one with fresh => 1;
# password => P sends AUTH P on each connection)
sub redis {
    my ($self, $name, %opt) = @_;
    $name //= 'redis';
    require Redis;
    my $port = $self->port($name);
    return $self->{redis_client}{$name} if $self->{redis_client}{$name}
                                           && !$opt{fresh};
    my $r = Redis->new(server => "127.0.0.1:$port", reconnect => 2,
                       every => 100_000, cnx_timeout => 2,
                       read_timeout => $opt{read_timeout} // 10,
                       $opt{password} ? (password => $opt{password}) : ());
    $self->{redis_client}{$name} = $r unless $opt{fresh};
    return $r;
}


# --- nginx -------------------------------------------------------------

sub nginx_conf {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'nginx';
    make_path("$self->{dir}/$name");
    return Scaleset::NginxConf::text(
        dir       => "$self->{dir}/$name",
        module    => $opt{no_module} ? undef : $opt{module} // $MODULE,
        workers   => $opt{workers} // 2,
        log_level => $opt{log_level} // 'info',
        main      => $self->expand($opt{main} // ''),
        events    => $self->expand($opt{events} // 'worker_connections 1024;'),
        http      => $self->expand($opt{http} // ''));
}

# Writes NAME/nginx.conf and starts nginx in the foreground with a master.
#   http => text (inside http {}), main => text, workers => N,
#   wait => [port names to wait for], name => 'nginx',
#   wrap => [command and arguments to run nginx under, e.g. valgrind]
sub start_nginx {
    my ($self, %opt) = @_;
    $self->_need($opt{no_module} ? 'nginx' : 'module');
    my $name = $opt{name} // 'nginx';
    my $conf = $self->write_file("$name/nginx.conf",
                                 $opt{conf} // $self->nginx_conf(%opt));

    # every "listen 127.0.0.1:PORT" is waited for
    my @ports = $conf =~ /listen\s+127\.0\.0\.1:(\d+)/g;
    my $srv = $self->spawn(
        name => $name,
        cmd => [@{ $opt{wrap} || [] },
                _which('nginx'), '-p', "$self->{dir}/$name/", '-c', $conf,
                '-e', "$self->{dir}/$name/error.log"],
        env => \%NGINX_ENV,
        # the workers first: once they run, each port is tried once (a
        # counted test sees the same connections every start)
        wait => sub {
            return 0 if !$opt{conf}
                        && $self->nginx_workers($name) < ($opt{workers} // 2);
            return !grep { !port_open($_) } @ports;
        },
        stop_signal => 'QUIT',
        timeout => $opt{timeout} // 20,
        extra => { conf => $conf, error_log => "$self->{dir}/$name/error.log",
                   wrapped => $opt{wrap} ? 1 : 0 },
    );
    push @{ $self->{nginx_names} }, $name;
    return $srv;
}

# nginx -t on a configuration: returns (exit status, output)
sub nginx_test {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'nginx-t';
    my $conf = $self->write_file("$name/nginx.conf",
                                 $opt{conf} // $self->nginx_conf(%opt, name => $name));
    my $cmd = join ' ', map { "'$_'" } _which('nginx'), '-t', '-p',
              "$self->{dir}/$name/", '-c', $conf, '-e', "$self->{dir}/$name/t.log";
    $cmd = $opt{wrap}->($cmd) if $opt{wrap};    # a shell command around it
    local %ENV = (%ENV, %NGINX_ENV);
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# pids of the current worker processes of an nginx started by us (under a
# wrapper, which keeps its own command line: every child of the master)
sub nginx_workers {
    my ($self, $name) = @_;
    my $master = $self->pid($name // 'nginx') or return ();
    my $wrapped = $self->{servers}{$name // 'nginx'}{wrapped};
    my @w;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh>;
        close $fh;
        next unless $stat && $stat =~ /^\d+ \((.*)\) \S+ (\d+)/;
        next unless $2 == $master;
        open my $c, '<', "/proc/$p/cmdline" or next;
        my $cmd = <$c> // '';
        close $c;
        push @w, $p if $wrapped
                       || ($cmd =~ /worker process/ && $cmd !~ /shutting down/);
    }
    closedir $d;
    @w = sort { $a <=> $b } @w;
    return @w;
}

# HUP and wait until a new generation of workers replaced the old one
sub reload_nginx {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'nginx';
    my %old = map { $_ => 1 } $self->nginx_workers($name);
    if ($opt{conf}) {
        $self->write_file("$name/nginx.conf", $opt{conf});
    } elsif ($opt{http}) {
        $self->write_file("$name/nginx.conf", $self->nginx_conf(%opt));
    }
    $self->signal($name, 'HUP');
    my $want = $opt{workers} // (scalar(keys %old) || 1);
    return $self->wait_for(sub {
        my @new = grep { !$old{$_} } $self->nginx_workers($name);
        return @new >= $want;
    }, timeout => $opt{timeout} // 10, what => "$name reloaded");
}

sub stop_nginx {
    my ($self, $name) = @_;
    return $self->stop($name // 'nginx');
}


# --- http ---------------------------------------------------------------

# GET a path on 127.0.0.1:PORT (port or port name); returns
# (status, body, headers); status 599 with the reason on a failed connection
sub http_get {
    my ($self, $port, $path, %opt) = @_;
    return $self->http('GET', $port, $path, %opt);
}

sub http {
    my ($self, $method, $port, $path, %opt) = @_;
    require HTTP::Tiny;
    $port = $self->port($port);
    my $ua = $opt{ua} // ($self->{ua} //= HTTP::Tiny->new(
        timeout => $opt{timeout} // 10, keep_alive => 0));
    my %req;
    $req{headers} = $opt{headers} if $opt{headers};
    $req{content} = $opt{body} if defined $opt{body};
    my $res = $ua->request($method, "http://127.0.0.1:$port$path", \%req);
    return ($res->{status}, $res->{content}, $res->{headers});
}


# the gateway's JSON status page (default: port 'http', /status),
# decoded, or {} when it does not answer
sub gateway_status {
    my ($self, $port, $path) = @_;
    require JSON::PP;
    my ($code, $body) = $self->http_get($port // 'http', $path // '/status',
                                        timeout => 2);
    return eval { JSON::PP::decode_json($body // '') } // {};
}

# tools/loadgen: open-loop load at rate requests/s on
# http://127.0.0.1:PORT/PATH (port => name or number, default 'http');
# its counters with loadgen_stats, stopped like any server
sub start_loadgen {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'loadgen';
    my $rate = $self->write_file("$name.rate", ($opt{rate} // 100) . "\n");
    my $url = 'http://127.0.0.1:' . $self->port($opt{port} // 'http')
              . ($opt{path} // '/');
    return $self->spawn(name => $name,
                        cmd => [$^X, "$ROOT/tools/loadgen", $url, $rate,
                                "$self->{dir}/$name.json"]);
}

sub loadgen_stats {
    my ($self, $name) = @_;
    require JSON::PP;
    my $json = $self->read_file(($name // 'loadgen') . '.json') // '';
    return eval { JSON::PP::decode_json($json) } // {};
}


# --- backends -----------------------------------------------------------

# One process serving HTTP on several named loopback ports:
#   $t->start_backends(b1 => 'port-or-name', b2 => '127.0.0.2:PORT',
#                      u => 'unix:/path')
# Each answers "/" with "NAME\n" and "/healthz" with 200; switches are set
# with $t->backend(NAME, ...) and read by the server before each request.
sub start_backends {
    my ($self, @pairs) = @_;
    my $name = 'backends';
    my $ctl = "$self->{dir}/backends";
    make_path($ctl);
    my @args;
    while (my ($b, $p) = splice @pairs, 0, 2) {
        # a port (name), or an address: 127.0.0.2:PORT, [::1]:PORT,
        # unix:/path
        my $addr = $p =~ /:/ ? $p : '127.0.0.1:' . $self->port($p);
        push @args, "$b=$addr";
        $self->{backend_addr}{$b} = $addr;
    }
    my @addrs = map { (split /=/, $_, 2)[1] } @args;
    my $srv = $self->spawn(
        name => $name,
        cmd => [$^X, "$ROOT/t/lib/backend.pl", '--ctl', $ctl, @args],
        wait => sub {
            !grep {
                /^unix:(.*)/ ? !-S $1
                             : do { my ($h, $pt) = /^(.*):(\d+)$/;
                                    !port_open($pt, $h) }
            } @addrs
        },
    );
    return $srv;
}

# connections backend NAME accepted so far (health checks included)
sub backend_accepted {
    my ($self, $b) = @_;
    my $n = $self->read_file("backends/$b.accepted") // 0;
    return $n + 0;
}

sub backend {
    my ($self, $b, %sw) = @_;
    my $line = join ' ', map { "$_=$sw{$_}" } sort keys %sw;
    $self->write_file("backends/$b.ctl.tmp", "$line\n");
    rename "$self->{dir}/backends/$b.ctl.tmp", "$self->{dir}/backends/$b.ctl"
        or croak "rename: $!";
}

# requests other than /healthz served so far by backend NAME
sub backend_hits {
    my ($self, $b) = @_;
    my $addr = $self->{backend_addr}{$b} or croak "no backend '$b'";
    require HTTP::Tiny;
    my $res = HTTP::Tiny->new(timeout => 5)->get("http://$addr/_hits");
    croak "backend $b: $res->{status} $res->{reason}" unless $res->{success};
    return $res->{content} + 0;
}


# --- prometheus ----------------------------------------------------------

# t/lib/metrics_endpoint.pl serving the text of set_metrics on port
# NAME (default 'metrics') for a Prometheus to scrape; returns its port
sub start_metrics {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'metrics';
    my $port = $self->port($name);
    $self->set_metrics($opt{text} // '', name => $name);
    $self->spawn(name => $name,
                 cmd => [$^X, "$ROOT/t/lib/metrics_endpoint.pl", $port,
                         "$self->{dir}/$name.txt"],
                 wait_port => $name);
    return $port;
}

# what start_metrics serves from now on (replaced whole, atomically)
sub set_metrics {
    my ($self, $text, %opt) = @_;
    my $name = $opt{name} // 'metrics';
    $self->write_file("$name.tmp", $text);
    rename "$self->{dir}/$name.tmp", "$self->{dir}/$name.txt"
        or croak "rename: $!";
}

#   scrape => ['127.0.0.1:PORT', ...] or { job => [targets] },
#   interval => '1s', rules => text of a rules file
sub start_prometheus {
    my ($self, %opt) = @_;
    $self->_need('prometheus');
    my $name = $opt{name} // 'prometheus';
    my $port = $self->port($name);
    my $interval = $opt{interval} // '1s';
    my $scrape = $opt{scrape} // [];
    $scrape = { scaleset => $scrape } if ref $scrape eq 'ARRAY';
    my $jobs = '';
    for my $job (sort keys %$scrape) {
        my $targets = join ', ', map { "'" . $self->expand($_) . "'" }
                      @{ $scrape->{$job} };
        $jobs .= "  - job_name: '$job'\n"
               . "    scrape_interval: $interval\n"
               . "    static_configs:\n      - targets: [$targets]\n";
    }
    my $rule_files = '';
    if (defined $opt{rules}) {
        my $f = $self->write_file("$name/rules.yml", $opt{rules});
        $rule_files = "rule_files:\n  - '$f'\n";
    }
    my $yml = $self->write_file("$name/prometheus.yml", <<"EOF");
global:
  scrape_interval: $interval
  evaluation_interval: $interval
${rule_files}scrape_configs:
$jobs
EOF
    my $srv = $self->spawn(
        name => $name,
        cmd => [_which('prometheus'), "--config.file=$yml",
                "--storage.tsdb.path=$self->{dir}/$name/data",
                "--web.listen-address=127.0.0.1:$port",
                '--log.level=warn'],
        wait => sub {
            my ($code) = $self->http_get($port, '/-/ready', timeout => 1);
            return $code == 200;
        },
        timeout => 60,
    );
    $srv->{port} = $port;
    return $srv;
}

# an instant PromQL query: returns the decoded "data" member, or undef
sub prom_query {
    my ($self, $query, %opt) = @_;
    require JSON::PP;
    my $q = $query;
    $q =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    my ($code, $body) = $self->http_get($opt{name} // 'prometheus',
                                        "/api/v1/query?query=$q");
    return undef unless $code == 200;
    my $d = eval { JSON::PP::decode_json($body) } or return undef;
    return $d->{status} eq 'success' ? $d->{data} : undef;
}


# --- end ---------------------------------------------------------------

# Stops everything, checks the logs of every nginx for alerts and emergencies
# and sanitizer reports, then done_testing.
sub done {
    my ($self, %opt) = @_;
    $self->stop_all;
    my %uniq;
    my @nginx = grep { !$uniq{$_}++ } @{ $self->{nginx_names} || [] };
    for my $name (@nginx) {
        my $log = $self->log($name) // '';
        my @bad = grep { /\[(alert|emerg)\]|AddressSanitizer|runtime error:/ }
                  split /\n/, $log;
        Test::More::is(join("\n", @bad), '', "no alerts in $name error log");
    }
    # our other programs (the scaler, helpers) report to their own logs
    for my $name (grep { !$uniq{$_}++ } keys %{ $self->{stopped} || {} }) {
        my $log = $self->log($name) // '';
        my @bad = grep { /(Address|Leak)Sanitizer|runtime error:/ }
                  split /\n/, $log;
        Test::More::is(join("\n", @bad), '', "no sanitizer report in $name log")
            if @bad;
    }
    Test::More::done_testing();
}

# $code runs once before the servers are stopped (done, or the cleanup
# of a test that died), while they still run: a harness extension's
# cleanup that needs them (Scaleset::Libvirtd removes its domains and
# storage pool through libvirtd)
sub before_stop {
    my ($self, $code) = @_;
    push @{ $self->{before_stop} }, $code;
}

sub stop_all {
    my ($self) = @_;
    while (my $code = shift @{ $self->{before_stop} || [] }) {
        $code->();
    }
    for my $name (reverse @{ $self->{order} }) {
        $self->stop($name);
    }
}

sub _cleanup {
    my ($self, $status) = @_;
    return if $self->{cleaned}++;
    return unless $self->{owner} == $$;

    my $failed = !Test::More->builder->is_passing || $SIGNALLED || $status;
    if ($failed) {
        for my $name (@{ $self->{order} }, keys %{ $self->{stopped} || {} }) {
            my $log = $self->log($name);
            next unless defined $log && length $log;
            my @lines = split /\n/, $log;
            @lines = @lines[-40 .. -1] if @lines > 40;
            Test::More::diag("--- $name log (last lines) ---\n"
                             . join("\n", @lines));
        }
    }

    $self->stop_all;

    if (!-d $self->{dir}) {
        $self->_dir_gone;
    } elsif ($failed || $ENV{SCALESET_KEEP}) {
        my $kept = $self->{dir} =~ s{/scaleset-run-([^/]+)$}{/scaleset-test-$1}r;
        $kept = $self->{dir} unless rename $self->{dir}, $kept;
        Test::More::diag("test files kept in $kept");
    } else {
        File::Path::remove_tree($self->{dir});
    }
}

1;

__END__

=head1 NAME

Scaleset::Test - start real servers on loopback for scaleset's tests

=head1 SYNOPSIS

    use FindBin; use lib "$FindBin::Bin/lib";
    use Test::More;
    use Scaleset::Test;

    my $t = Scaleset::Test->new(need => [qw(redis nginx)]);
    $t->start_redis;
    $t->start_backends(b1 => 'b1');
    $t->start_nginx(workers => 2, http => <<'EOF');
        server { listen 127.0.0.1:%%PORT_http%%;
                 location / { proxy_pass http://127.0.0.1:%%PORT_b1%%; } }
    EOF
    my ($code, $body) = $t->http_get('http', '/');
    is($body, "b1\n", 'proxied');
    $t->done;

=head1 DESCRIPTION

Every server runs in its own session with its output in the test's
temporary directory; C<done>, a failing C<die> and the signals INT, TERM,
HUP and PIPE all stop them by PID.  On failure the last lines of every log
are printed and the directory is kept.  Set C<SCALESET_KEEP=1> to keep it
always.

=cut
