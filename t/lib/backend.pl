#!/usr/bin/perl
# Test backends: one process serving HTTP/1.x on several loopback addresses.
#
#   backend.pl --ctl DIR NAME=HOST:PORT ...
#
# Each NAME answers "/..." with "NAME\n" (header X-Backend: NAME), "/healthz"
# with "ok\n" and "/_hits" with the number of non-health requests served.
# An address is HOST:PORT or unix:/PATH; every accepted connection (health
# checks too) is counted in DIR/NAME.accepted.
# Switches are read from DIR/NAME.ctl ("key=value ..." on one line) before
# every request:
#   status=CODE   status of "/..."        (default 200)
#   healthz=CODE  status of "/healthz"    (default 200)
#   delay=SEC     answer after SEC seconds (all paths)
#   mode=ok|reset|close|hang
#                 reset: RST the connection; close: close without an
#                 answer; hang: never answer
#   scope=all|health|traffic
#                 which requests delay/mode apply to (default all)

use strict;
use warnings;

use IO::Select;
use IO::Socket::IP;
use IO::Socket::UNIX;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time);

my $ctl_dir;
my @specs;
while (@ARGV) {
    my $a = shift @ARGV;
    if ($a eq '--ctl') { $ctl_dir = shift @ARGV; next }
    push @specs, $a;
}
die "usage: backend.pl --ctl DIR NAME=HOST:PORT ...\n"
    unless $ctl_dir && @specs;

my $sel = IO::Select->new;
my (%listener, %conn, %hits, %ctl_cache, %accepted);
my @timers;    # [when, fh, response]

for my $spec (@specs) {
    my ($name, $addr) = $spec =~ /^([^=]+)=(.+)$/ or die "bad spec $spec\n";
    my $l;
    if ($addr =~ m{^unix:(/.+)$}) {
        unlink $1;
        $l = IO::Socket::UNIX->new(Local => $1, Listen => 1024)
            or die "listen $addr: $!\n";
    } else {
        my ($host, $port) = $addr =~ /^\[?(.*?)\]?:(\d+)$/
            or die "bad address $addr\n";
        $l = IO::Socket::IP->new(LocalHost => $host, LocalPort => $port,
                                 Listen => 1024, ReuseAddr => 1,
                                 Proto => 'tcp')
            or die "listen $addr: $@\n";
    }
    $l->blocking(0);
    $listener{fileno $l} = { fh => $l, name => $name };
    $sel->add($l);
    $hits{$name} = 0;
}

$SIG{TERM} = $SIG{INT} = sub { exit 0 };
$SIG{PIPE} = 'IGNORE';

sub switches {
    my ($name) = @_;
    my $path = "$ctl_dir/$name.ctl";
    my @st = stat $path;
    return {} unless @st;
    my $key = "$st[9]:$st[1]:$st[7]";
    my $c = $ctl_cache{$name};
    return $c->{sw} if $c && $c->{key} eq $key;
    open my $fh, '<', $path or return {};
    my $line = <$fh> // '';
    close $fh;
    my %sw = map { split /=/, $_, 2 } grep { /=/ } split ' ', $line;
    $ctl_cache{$name} = { key => $key, sw => \%sw };
    return \%sw;
}

sub count_accept {
    my ($name) = @_;
    my $path = "$ctl_dir/$name.accepted";
    open my $fh, '>', "$path.tmp" or return;
    print $fh ++$accepted{$name}, "\n";
    close $fh;
    rename "$path.tmp", $path;
}

sub drop {
    my ($fh) = @_;
    $sel->remove($fh);
    delete $conn{fileno $fh};
    close $fh;
}

sub respond {
    my ($fh, $c, $code, $body, $keep) = @_;
    my $reason = { 200 => 'OK', 404 => 'Not Found', 500 => 'Internal Server Error',
                   502 => 'Bad Gateway', 503 => 'Service Unavailable' }->{$code}
                 // 'Status';
    my $res = "HTTP/1.1 $code $reason\r\n"
            . "Content-Type: text/plain\r\n"
            . "Content-Length: " . length($body) . "\r\n"
            . "X-Backend: $c->{name}\r\n"
            . ($keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n")
            . "\r\n" . $body;
    $fh->blocking(1);
    my $ok = defined syswrite($fh, $res);
    $fh->blocking(0);
    if (!$ok || !$keep) {
        drop($fh);
        return;
    }
    $c->{busy} = 0;
    # a pipelined request may already be buffered
    handle($fh, $c) if $c->{buf} =~ /\r\n\r\n/;
}

sub handle {
    my ($fh, $c) = @_;
    return if $c->{busy};
    return unless $c->{buf} =~ s/^(.*?\r\n)\r\n//s;
    my $head = $1;
    my ($method, $path, $ver) = $head =~ m{^(\S+) (\S+) HTTP/(1\.[01])}
        or return drop($fh);
    my $keep = $ver eq '1.1' ? $head !~ /^Connection:\s*close/mi
                             : $head =~ /^Connection:\s*keep-alive/mi;
    if ($head =~ /^Content-Length:\s*(\d+)/mi && $1 > 0) {
        substr($c->{buf}, 0, $1, '');    # bodies are small in tests
    }

    my $name = $c->{name};
    my $sw = switches($name);
    my $health = $path =~ m{^/healthz};
    my $scope = $sw->{scope} // 'all';
    my $applies = $scope eq 'all' || ($scope eq 'health' ? $health : !$health);

    if ($path eq '/_hits') {
        return respond($fh, $c, 200, "$hits{$name}\n", $keep);
    }

    my $mode = $applies ? ($sw->{mode} // 'ok') : 'ok';
    if ($mode eq 'reset') {
        setsockopt($fh, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        return drop($fh);
    }
    return drop($fh) if $mode eq 'close';
    $c->{busy} = 1;
    return if $mode eq 'hang';

    my ($code, $body);
    if ($health) {
        ($code, $body) = ($sw->{healthz} // 200, "ok\n");
    } else {
        $hits{$name}++;
        ($code, $body) = ($sw->{status} // 200, "$name\n");
    }
    my $delay = $applies ? ($sw->{delay} // 0) : 0;
    if ($delay > 0) {
        push @timers, [time + $delay, $fh, $code, $body, $keep];
        @timers = sort { $a->[0] <=> $b->[0] } @timers;
        return;
    }
    respond($fh, $c, $code, $body, $keep);
}

while (1) {
    my $wait = @timers ? $timers[0][0] - time : 1;
    $wait = 0 if $wait < 0;
    for my $fh ($sel->can_read($wait)) {
        my $l = $listener{fileno $fh};
        if ($l) {
            while (my $s = $fh->accept) {
                $s->blocking(0);
                count_accept($l->{name});
                $conn{fileno $s} = { fh => $s, name => $l->{name}, buf => '' };
                $sel->add($s);
            }
            next;
        }
        my $c = $conn{fileno $fh} or next;
        my $n = sysread($fh, my $data, 65536);
        if (!$n) {
            next if !defined $n && $!{EAGAIN};
            drop($fh);
            @timers = grep { $_->[1] != $fh } @timers;
            next;
        }
        $c->{buf} .= $data;
        handle($fh, $c);
    }
    while (@timers && $timers[0][0] <= time) {
        my ($when, $fh, $code, $body, $keep) = @{ shift @timers };
        my $c = $conn{fileno $fh} or next;
        next unless $c->{fh} == $fh;
        respond($fh, $c, $code, $body, $keep);
    }
}
