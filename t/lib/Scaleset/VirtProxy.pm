package Scaleset::VirtProxy;

# A proxy on libvirt's unix socket that kills a process (kill -9, by the
# PID the test gives it) at an exact call of libvirt's RPC protocol: just
# before the call reaches libvirtd (the call is dropped: the step before
# it done, it never) or just after it was passed on (the call in flight:
# libvirtd carries it out for a client that is gone).  So a chaos test
# can stop the scaler between any two steps of a create or a delete
# instead of hoping a random moment falls into a gap of a millisecond.
#
#   my $px = Scaleset::VirtProxy->start($t, $lv->uri);
#   $px->uri;                      # the URI to give the scaler instead
#   $px->arm(DOMAIN_DEFINE_XML => 1, 'before', $pid);
#   $px->fired(5);                 # "before DOMAIN_DEFINE_XML #1" or undef
#   $px->disarm;                   # what fired meanwhile, if it did
#   $px->delay(DOMAIN_MANAGED_SAVE => 3000);   # each such call held 3 s
#   $px->held(5);                  # "DOMAIN_MANAGED_SAVE": one held now
#   $px->delay(DOMAIN_MANAGED_SAVE => 0);      # passed on at once again
#
# A delay makes a fast call slow (the test driver's are instant): each
# call of that procedure is held that long before it reaches libvirtd,
# while every other message, of that connection too, passes at once
# (libvirt's RPC runs several calls on one connection: the replies find
# their calls by serial).
# The wire format (libvirt's src/remote/remote_protocol.x, "RPC wire
# format"): each message is a 4-byte big-endian length (the whole message,
# itself included), a header of six 32-bit words (program, version,
# procedure, type, serial, status), the payload.  Only calls (type 0) of
# the remote program are looked at; everything else (replies, events,
# streams, keepalives) passes as it came.  The procedure numbers are the
# protocol's, which never change.

use strict;
use warnings;

use Carp qw(croak);
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time);

our %PROC = (
    DOMAIN_CREATE            => 9,
    DOMAIN_DEFINE_XML        => 11,
    DOMAIN_DESTROY           => 12,
    DOMAIN_SHUTDOWN          => 33,
    DOMAIN_SUSPEND           => 34,
    STORAGE_VOL_CREATE_XML   => 93,
    STORAGE_VOL_DELETE       => 94,
    DOMAIN_MANAGED_SAVE      => 182,
    STORAGE_VOL_UPLOAD       => 208,
    DOMAIN_UNDEFINE_FLAGS    => 231,
);
my %NAME = reverse %PROC;
my $REMOTE_PROGRAM = 0x20008086;

# the proxy for libvirtd at $uri (a unix URI with ?socket=), spawned as a
# server of $t's (stopped with the others)
sub start {
    my ($class, $t, $uri, %opt) = @_;
    my ($to) = $uri =~ /[?&]socket=([^&]+)/
        or croak "VirtProxy: $uri names no socket";
    my $name = $opt{name} // 'virtproxy';
    my $listen = $t->dir . "/$name.sock";
    my $ctl = $t->dir . "/$name.ctl";
    (my $lib = $INC{'Scaleset/VirtProxy.pm'}) =~ s{/Scaleset/VirtProxy\.pm$}{};
    $t->spawn(name => $name,
              cmd => [$^X, "-I$lib", '-MScaleset::VirtProxy', '-e',
                      'Scaleset::VirtProxy::serve(@ARGV)', $listen, $to,
                      $ctl],
              wait => sub { -S $listen && -S $ctl }, timeout => 10);
    my $c = IO::Socket::UNIX->new(Peer => $ctl, Type => SOCK_STREAM)
        or croak "VirtProxy: $ctl: $!";
    (my $new = $uri) =~ s/([?&]socket=)[^&]+/$1$listen/;
    return bless { uri => $new, ctl => $c, buf => '' }, $class;
}

sub uri { $_[0]{uri} }

# a command; the answer ok, after a fired line that came first (a kill
# just before a disarm), returned
sub _cmd {
    my ($self, $line) = @_;
    local $SIG{PIPE} = 'IGNORE';
    defined syswrite($self->{ctl}, "$line\n")
        or croak "VirtProxy: '$line': the proxy is gone ($!)";
    my ($r, $late);
    while (defined($r = $self->_line(10)) && $r =~ /^(?:fired|held) /) {
        $late = _fired($r) if $r =~ /^fired /;
    }
    croak "VirtProxy: '$line': " . ($r // 'no answer') unless ($r // '') eq 'ok';
    return $late;
}

sub _fired {
    my ($l) = @_;
    return undef unless defined $l && $l =~ /^fired (\d+) (\d+) (\w+)$/;
    return "$3 " . ($NAME{$1} // $1) . " #$2";
}

# the next line from the proxy within $timeout s, or undef
sub _line {
    my ($self, $timeout) = @_;
    my $end = time + $timeout;
    my $sel = IO::Select->new($self->{ctl});
    while ($self->{buf} !~ /\n/) {
        my $left = $end - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($self->{ctl}, $self->{buf}, 4096, length $self->{buf});
        return undef unless $n;
    }
    $self->{buf} =~ s/^(.*?)\n//;
    return $1;
}

# kill -9 $pid at the $nth call of $proc from now (before: the call is
# dropped; after: passed on first)
sub arm {
    my ($self, $proc, $nth, $when, $pid) = @_;
    my $p = $PROC{$proc} // croak "VirtProxy: no procedure $proc";
    croak "VirtProxy: before or after, not $when" unless $when =~ /^(before|after)$/;
    $self->_cmd("arm $p $nth $when $pid");
}

# each call of $proc held $ms ms before it is passed on (0: no more)
sub delay {
    my ($self, $proc, $ms) = @_;
    my $p = $PROC{$proc} // croak "VirtProxy: no procedure $proc";
    $self->_cmd("delay $p " . int($ms));
}

# no kill armed any more: what fired before the proxy heard it, or undef
sub disarm { $_[0]->_cmd('disarm') }

# the next call held by a delay within $timeout s (its procedure's name:
# "DOMAIN_MANAGED_SAVE"), or undef
sub held {
    my ($self, $timeout) = @_;
    my $l = $self->_line($timeout);
    return undef unless defined $l && $l =~ /^held (\d+)$/;
    return $NAME{$1} // $1;
}

# what fired within $timeout s ("before DOMAIN_DEFINE_XML #1"), or undef
sub fired {
    my ($self, $timeout) = @_;
    return _fired($self->_line($timeout));
}

# --- the proxy process ----------------------------------------------------

sub serve {
    my ($listen, $to, $ctlpath) = @_;
    # a reply for a client killed meanwhile: EPIPE, that connection closed
    # (the signal would end the proxy, and with it every later scaler's
    # way to libvirtd)
    $SIG{PIPE} = 'IGNORE';
    unlink $listen, $ctlpath;
    my $ls = IO::Socket::UNIX->new(Local => $listen, Listen => 16,
                                   Type => SOCK_STREAM) or die "$listen: $!";
    my $cs = IO::Socket::UNIX->new(Local => $ctlpath, Listen => 1,
                                   Type => SOCK_STREAM) or die "$ctlpath: $!";
    chmod 0777, $listen;
    my $sel = IO::Select->new($ls, $cs);
    my (%peer, %buf, %client, %dead, $ctl, $cbuf);
    my $arm;                # { proc, left, when, pid }
    my %delay;              # proc => ms
    my @held;               # [due, to socket, message], by due
    $cbuf = '';
    my $close = sub {
        my ($s) = @_;
        my @pair = ($s, $peer{$s} // ());
        for my $x (@pair) {
            $sel->remove($x);
            delete $peer{$x};
            delete $buf{$x};
            delete $client{$x};
            delete $dead{$x};
            close $x;
        }
    };
    while (1) {
        # the held calls that are due go on
        while (@held && $held[0][0] <= time) {
            my ($due, $u, $msg) = @{ shift @held };
            _write($u, $msg) if defined $sel->exists($u);
        }
        my $wait = @held ? $held[0][0] - time : undef;
        $wait = 0 if defined $wait && $wait < 0;
        for my $s ($sel->can_read($wait)) {
            next unless defined $sel->exists($s);   # closed meanwhile
            if ($s == $ls) {
                my $c = $ls->accept or next;
                my $u = IO::Socket::UNIX->new(Peer => $to, Type => SOCK_STREAM);
                unless ($u) { close $c; next; }
                $peer{$c} = $u;
                $peer{$u} = $c;
                $client{$c} = 1;
                $buf{$c} = '';
                $sel->add($c, $u);
                next;
            }
            if ($s == $cs) {
                $sel->remove($ctl), close $ctl if $ctl;
                $ctl = $cs->accept;
                $sel->add($ctl);
                next;
            }
            if ($ctl && $s == $ctl) {
                my $n = sysread($ctl, $cbuf, 4096, length $cbuf);
                exit 0 unless $n;
                while ($cbuf =~ s/^(.*?)\n//) {
                    my @w = split ' ', $1;
                    if ($w[0] eq 'arm') {
                        $arm = { proc => $w[1], nth => $w[2], left => $w[2],
                                 when => $w[3], pid => $w[4] };
                    } elsif ($w[0] eq 'delay') {
                        $w[2] ? ($delay{$w[1]} = $w[2]) : delete $delay{$w[1]};
                    } else {
                        undef $arm;
                    }
                    syswrite($ctl, "ok\n");
                }
                next;
            }
            my $n = sysread($s, my $data, 65536);
            unless ($n) {
                $close->($s);
                next;
            }
            my $to_s = $peer{$s};
            unless ($client{$s}) {
                _write($to_s, $data) or $close->($s);
                next;
            }
            # a killed client's last words never reach libvirtd
            next if $dead{$s};
            # from a client: whole messages, each looked at
            $buf{$s} .= $data;
            while (length $buf{$s} >= 28) {
                my ($len, $prog, undef, $proc, $type)
                    = unpack 'N5', $buf{$s};
                if ($len < 28) {            # not libvirt's: let it go
                    _write($to_s, $buf{$s});
                    $buf{$s} = '';
                    last;
                }
                last if length $buf{$s} < $len;
                my $msg = substr($buf{$s}, 0, $len, '');
                my $fire = $arm && $prog == $REMOTE_PROGRAM && $type == 0
                    && $proc == $arm->{proc} && --$arm->{left} == 0;
                if (!$fire && $prog == $REMOTE_PROGRAM && $type == 0
                    && $delay{$proc}) {
                    push @held, [time + $delay{$proc} / 1000, $to_s, $msg];
                    @held = sort { $a->[0] <=> $b->[0] } @held;
                    syswrite($ctl, "held $proc\n") if $ctl;
                    next;
                }
                if ($fire && $arm->{when} eq 'before') {
                    kill 'KILL', $arm->{pid};
                } else {
                    _write($to_s, $msg);
                    kill 'KILL', $arm->{pid} if $fire;
                }
                if ($fire) {
                    # every connection open now is the killed process's
                    $dead{$_} = 1 for grep { $client{$_} } keys %peer;
                    $buf{$s} = '';
                    syswrite($ctl, "fired $arm->{proc} $arm->{nth} "
                             . "$arm->{when}\n") if $ctl;
                    undef $arm;
                    last;
                }
            }
        }
    }
}

sub _write {
    my ($s, $data) = @_;
    while (length $data) {
        my $w = syswrite($s, $data);
        return 0 unless defined $w;
        substr($data, 0, $w, '');
    }
    return 1;
}

1;
