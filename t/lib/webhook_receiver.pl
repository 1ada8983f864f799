#!/usr/bin/perl
# A webhook receiver for the tests: HTTP on 127.0.0.1:PORT, every POST's
# body appended as one line to FILE (in the order received); the first
# FAIL requests (default 0) are answered 500 without being kept, so that
# the sender must retry.
#
#   webhook_receiver.pl PORT FILE [FAIL]

use strict;
use warnings;
use IO::Socket::INET;

my ($port, $file, $fail) = @ARGV;
$fail //= 0;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Listen => 16, ReuseAddr => 1)
    or die "listen $port: $!\n";
$SIG{TERM} = sub { exit 0 };
while (my $c = $l->accept) {
    local $/ = "\r\n";
    my $line = <$c> // next;
    my $len = 0;
    while (my $h = <$c>) {
        last if $h eq "\r\n";
        $len = $1 if $h =~ /^Content-Length:\s*(\d+)/i;
    }
    my $body = '';
    read($c, $body, $len) if $len;
    if ($fail > 0) {
        $fail--;
        print $c "HTTP/1.1 500 No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    } else {
        open my $f, '>>', $file or die "$file: $!";
        print $f "$body\n";
        close $f;
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    }
    close $c;
}
