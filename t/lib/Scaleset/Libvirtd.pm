package Scaleset::Libvirtd;

# Harness extension for real-VM tests: starts virtlogd and libvirtd (the
# qemu driver, privileged, URI qemu:///system) by hand under the test's
# harness, with libvirtd's sockets and pid file in the test's temp dir, a
# `dir` storage pool there with a base qcow2 volume, and destroys every
# domain and volume it made before the daemons are stopped by PID.
#
#   use Scaleset::Libvirtd;
#   my $lv = Scaleset::Libvirtd->start($t);   # $t: a Scaleset::Test
#   $lv->uri;        # qemu:///system?socket=TMP/libvirt/run/libvirt-sock
#   $lv->pool;       # storage pool name; $lv->pool_dir its directory
#   $lv->base;       # path of the base volume (base.qcow2)
#   $lv->virsh(ARGS) # ($rc, $output) of virsh -c URI ARGS
#   $lv->track(NAME) # a domain to destroy+undefine at cleanup
#   $lv->track_prefix('rvm-')  # every domain named so, too; ->purge now
#   $lv->stop_daemon; $lv->start_daemon   # libvirtd only (guests keep running)
#   $lv->qemu_pid(NAME)  # the qemu pid of a running domain, or undef
#   Scaleset::Libvirtd->skip_reason  # why a real-VM test cannot run, or undef
#
#   my $lv = Scaleset::Libvirtd->start_test_driver($t, name => 'lvt');
#   $lv->uri;        # test+unix:///default?socket=TMP/lvt/run/libvirt-sock
#   $lv->domains;    # the names of the domains it has now
#   $lv->defined;    # { name => times defined } from its event log
#   $lv->pause; $lv->resume   # SIGSTOP / SIGCONT of it (a hung host)
#   Scaleset::Libvirtd->test_host($t, 'h1')   # the same, named h1: a
#                    # "host" of a zone for the scaler
#
# start_test_driver: libvirt's test driver (test:///default) served by a
# libvirtd of its own to remote clients, so that several processes (two
# scalers) share one embedded hypervisor, which each process's own
# test:///default cannot, and so that a test has hosts that are processes
# of their own (one can be SIGSTOPped, as a hung hypervisor).  No
# hypervisor driver is loaded (LIBVIRT_DRIVER_DIR names an empty
# directory), so nothing of the privileged daemon's fixed state is
# touched: no lock, no virtlogd, any number at once.  A `virsh event
# --loop` holds a connection the whole test (the driver's state lives as
# long as one is open), without keepalive so that it outlives a SIGSTOP,
# and logs every domain's lifecycle.
#
# Why qemu:///system and not a private instance: the qemu driver's state
# (/run/libvirt/qemu, its driver.pid lock, /var/lib/libvirt/qemu) and
# virtlogd's socket are fixed for the privileged daemon; only the RPC
# sockets and the pid file can move (--config with unix_sock_dir,
# --pid-file).  So the test's libvirtd cannot run beside a system
# libvirtd: skip_reason says so, and the test skips.  qemu runs as
# libvirt-qemu: every path handed to it must be readable by that user
# (the harness makes its temp dir 0755).

use strict;
use warnings;

use Carp qw(croak);
use Fcntl qw(:flock);
use File::Path qw(make_path);
use IO::Socket::UNIX;
use Time::HiRes qw(time sleep);
use Test::More ();

my @LIVE;
my $LOCK;           # held while this process runs a privileged libvirtd

# runs before Scaleset::Test's END (compiled later, so its END runs first):
# domains go before the daemons the harness stops
END {
    my $status = $?;
    $_->cleanup for @LIVE;
    $? = $status;
}

sub skip_reason {
    my ($class) = @_;
    return 'not root (the qemu driver runs privileged)' if $> != 0;
    for my $b (qw(libvirtd virtlogd virsh qemu-system-x86_64 qemu-img)) {
        return "$b not installed (make deps)" unless _which($b);
    }
    # a running system libvirtd holds the qemu driver's state
    if (-S '/run/libvirt/libvirt-sock'
        && IO::Socket::UNIX->new(Peer => '/run/libvirt/libvirt-sock')) {
        return 'a system libvirtd is running';
    }
    return undef;
}

sub _which {
    my ($b) = @_;
    for my $d (split /:/, "$ENV{PATH}:/usr/sbin:/sbin") {
        return "$d/$b" if -x "$d/$b";
    }
    return undef;
}

sub start {
    my ($class, $t, %opt) = @_;
    my $dir = $t->dir . '/libvirt';
    my $self = bless { t => $t, dir => $dir, domains => {}, qemu => {},
                       owner => $$ }, $class;
    # one privileged libvirtd per machine (its qemu driver state is fixed):
    # a second real-VM test, of another checkout too, waits for the first
    unless ($LOCK) {
        open($LOCK, '>>', '/run/lock/scaleset-realvm.lock')
            or croak "/run/lock/scaleset-realvm.lock: $!";
        unless (flock($LOCK, LOCK_EX | LOCK_NB)) {
            Test::More::diag('another real-VM test holds '
                . '/run/lock/scaleset-realvm.lock: waiting');
            flock($LOCK, LOCK_EX) or croak "flock: $!";
        }
    }
    make_path("$dir/run", "$dir/pool", "$dir/log");
    chmod 0755, $dir, "$dir/pool", "$dir/log";

    # virtlogd: qemu's console/stdio go through it; its socket is fixed
    # (/run/libvirt/virtlogd-sock) for the privileged daemon
    make_path('/run/libvirt');
    unless (-S '/run/libvirt/virtlogd-sock'
            && IO::Socket::UNIX->new(Peer => '/run/libvirt/virtlogd-sock')) {
        unlink '/run/libvirt/virtlogd-sock';
        $t->spawn(name => 'virtlogd',
                  cmd => [_which('virtlogd'), '-p', "$dir/virtlogd.pid"],
                  wait => sub { -S '/run/libvirt/virtlogd-sock' },
                  timeout => 20);
    }

    _forget_stale_pools();
    _write_conf($t, $dir);
    $self->{uri} = "qemu:///system?socket=$dir/run/libvirt-sock";
    $self->_spawn_libvirtd($opt{timeout} // 60);
    push @LIVE, $self;
    # before $t->done stops libvirtd: else its domains stay defined
    # (/etc/libvirt/qemu) and its pool in /run/libvirt/storage
    $t->before_stop(sub { $self->cleanup });

    $self->{pool} = 'scaleset-test-' . $$;
    $self->{pool_dir} = "$dir/pool";
    my ($rc, $out) = $self->virsh('pool-create-as', $self->{pool}, 'dir',
                                  '--target', "$dir/pool");
    croak "pool-create-as: $out" if $rc;
    ($rc, $out) = $self->virsh('vol-create-as', $self->{pool}, 'base.qcow2',
                               '64M', '--format', 'qcow2');
    croak "vol-create-as base: $out" if $rc;
    $self->{base} = "$dir/pool/base.qcow2";
    return $self;
}

# libvirtd's sockets and log in dir, no authentication (root only)
# the transient storage pools of earlier tests that libvirtd would load
# again (/run/libvirt/storage: a test killed before its cleanup), whose
# directory is gone: forgotten.  Only while holding the real-VM lock, so
# no other test's libvirtd runs.
sub _forget_stale_pools {
    for my $f (glob '/run/libvirt/storage/scaleset-test-*.xml') {
        open my $fh, '<', $f or next;
        local $/;
        my ($path) = (<$fh> // '') =~ m{<target>\s*<path>([^<]+)</path>};
        unlink $f if defined $path && !-d $path;
    }
}

sub _write_conf {
    my ($t, $dir) = @_;
    $t->write_file("$dir/libvirtd.conf", <<"EOC");
unix_sock_dir = "$dir/run"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$dir/libvirtd-debug.log"
EOC
}

sub start_test_driver {
    my ($class, $t, %opt) = @_;
    my $name = $opt{name} // 'libvirtd-test';
    my $dir = $t->dir . "/$name";
    my $self = bless { t => $t, dir => $dir, name => $name, domains => {},
                       qemu => {}, owner => $$, test => 1 }, $class;
    make_path("$dir/run", "$dir/drivers");
    _write_conf($t, $dir);
    $self->{uri} = "test+unix:///default?socket=$dir/run/libvirt-sock";
    $t->spawn(name => $name,
              cmd => [_which('libvirtd'), '--config', "$dir/libvirtd.conf",
                      '--pid-file', "$dir/libvirtd.pid"],
              env => { LIBVIRT_DRIVER_DIR => "$dir/drivers" },
              wait => sub { -S "$dir/run/libvirt-sock"
                            && ($self->virsh('list'))[0] == 0 },
              timeout => $opt{timeout} // 30);
    # the test driver's state lives while a connection is open
    $t->spawn(name => "$name-events",
              cmd => ['virsh', '-k', '0', '-c', $self->{uri}, 'event',
                      '--all', '--loop', '--timestamp'],
              wait => sub { 1 });
    # its own default domain is not a scaler's: gone for good once the
    # events' connection holds the state
    $t->wait_for(sub {
        $self->virsh('destroy', 'test');
        $self->virsh('undefine', 'test');
        !grep { $_ eq 'test' } $self->domains;
    }, timeout => 10, what => 'the test driver\'s own domain gone')
        or croak "$name: the test domain stays";
    return $self;
}

# the names of the domains the (test) daemon has now
sub domains {
    my ($self) = @_;
    my ($rc, $out) = $self->virsh('list', '--all', '--name');
    return grep { length } split /\s+/, $out;
}

# name => how many times a domain of that name was defined, from the
# event log of start_test_driver
sub defined {
    my ($self) = @_;
    my %n;
    my $log = $self->{t}->log("$self->{name}-events") // '';
    $n{$1}++ while $log =~ /event 'lifecycle' for domain '?([^':\s]+)'?: Defined/g;
    return \%n;
}

sub _spawn_libvirtd {
    my ($self, $timeout) = @_;
    my $dir = $self->{dir};
    $self->{t}->spawn(name => 'libvirtd',
              cmd => [_which('libvirtd'), '--config', "$dir/libvirtd.conf",
                      '--pid-file', "$dir/libvirtd.pid"],
              wait => sub { -S "$dir/run/libvirt-sock"
                            && ($self->virsh('list'))[0] == 0 },
              timeout => $timeout);
}

# stops libvirtd (SIGTERM: running guests keep running) and returns; the
# socket is gone until ->start_daemon
sub stop_daemon {
    my ($self) = @_;
    $self->{t}->stop('libvirtd');
}

sub start_daemon {
    my ($self) = @_;
    $self->_spawn_libvirtd(60);
}

# a zone's host for the scaler's tests: start_test_driver named NAME
sub test_host {
    my ($class, $t, $name) = @_;
    return $class->start_test_driver($t, name => $name);
}

sub pause  { $_[0]{t}->signal($_[0]{name}, 'STOP') }
sub resume { $_[0]{t}->signal($_[0]{name}, 'CONT') }

sub uri      { $_[0]{uri} }
sub pool     { $_[0]{pool} }
sub pool_dir { $_[0]{pool_dir} }
sub base     { $_[0]{base} }
sub dir      { $_[0]{dir} }
sub log_dir  { "$_[0]{dir}/log" }

sub virsh {
    my ($self, @args) = @_;
    my $pid = open(my $fh, '-|') // croak "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec 'virsh', '-q', '-c', $self->{uri}, @args;
        exit 127;
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# a qcow2 overlay NAME.qcow2 on the base volume; returns its path
sub overlay {
    my ($self, $name) = @_;
    my ($rc, $out) = $self->virsh('vol-create-as', $self->{pool},
        "$name.qcow2", '64M', '--format', 'qcow2',
        '--backing-vol', $self->{base}, '--backing-vol-format', 'qcow2');
    croak "vol-create-as $name: $out" if $rc;
    return "$self->{pool_dir}/$name.qcow2";
}

sub volumes {
    my ($self) = @_;
    my ($rc, $out) = $self->virsh('vol-list', $self->{pool});
    return map { (split ' ', $_)[0] } grep { /\S/ } split /\n/, $out;
}

sub track {
    my ($self, $name) = @_;
    $self->{domains}{$name} = 1;
}

# every domain whose name starts with PREFIX (made by a scaler under test)
# is destroyed and undefined at cleanup, as tracked ones are
sub track_prefix {
    my ($self, $prefix) = @_;
    $self->{prefix} = $prefix;
}

sub _prefixed {
    my ($self) = @_;
    return () unless defined $self->{prefix};
    my ($rc, $out) = $self->virsh('list', '--all', '--name');
    return grep { index($_, $self->{prefix}) == 0 } split /\s+/, $out;
}

# destroys and undefines the prefixed domains now: persistent domains a
# killed earlier run left in the qemu driver's config dir come back with
# libvirtd
sub purge {
    my ($self) = @_;
    $self->_remove($_) for $self->_prefixed;
}

# destroys and undefines one domain with its managed save (a warm pool's
# saved guest: without --managed-save libvirt refuses the undefine and
# the domain stays defined in /etc/libvirt/qemu) and its NVRAM; says so
# when it is still defined after that
sub _remove {
    my ($self, $name) = @_;
    $self->virsh('destroy', $name);
    my ($rc, $out) = $self->virsh('undefine', $name, '--managed-save',
                                  '--nvram');
    if ($rc) {
        $self->virsh('managedsave-remove', $name);
        ($rc, $out) = $self->virsh('undefine', $name, '--nvram');
    }
    Test::More::diag("cleanup: $name is still defined: $out")
        if $rc && -e "/etc/libvirt/qemu/$name.xml";
}

sub qemu_pid {
    my ($self, $name) = @_;
    open my $fh, '<', "/run/libvirt/qemu/$name.pid" or return undef;
    my $pid = <$fh>;
    return undef unless defined $pid && $pid =~ /^(\d+)/;
    $self->{qemu}{$name} = $1;
    return $1;
}

# destroy + undefine every tracked domain (and kill a qemu that outlived
# it), delete the pool; the harness then stops libvirtd and virtlogd
sub cleanup {
    my ($self) = @_;
    return if $self->{cleaned}++ || $self->{owner} != $$;
    # the clients first (a scaler still running would define a domain
    # again, a warm pool's refill, while they are removed)
    for my $name (reverse @{ $self->{t}{order} || [] }) {
        $self->{t}->stop($name) unless $name =~ /^(?:libvirtd|virtlogd)$/;
    }
    $self->{domains}{$_} = 1 for $self->_prefixed;
    for my $name (sort keys %{ $self->{domains} }) {
        $self->qemu_pid($name);
        $self->_remove($name);
    }
    for my $pid (values %{ $self->{qemu} }) {
        next unless kill 0, $pid;
        my ($comm) = eval { local (@ARGV, $/) = ("/proc/$pid/comm"); <> };
        kill 'KILL', $pid if ($comm // '') =~ /^qemu/;
    }
    if ($self->{pool}) {
        $self->virsh('vol-delete', $_, '--pool', $self->{pool})
            for $self->volumes;
        $self->virsh('pool-destroy', $self->{pool});
    }
    $self->{t}->stop('libvirtd');
    $self->{t}->stop('virtlogd');
}

1;
