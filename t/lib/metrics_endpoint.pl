# metrics_endpoint.pl PORT FILE: serves FILE (re-read per request) as
# Prometheus text on 127.0.0.1:PORT; tests rewrite FILE (write + rename)
# to change the values Prometheus scrapes.
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $file) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port", Listen => 16,
                              ReuseAddr => 1) or die "listen: $!";
while (my $c = $l->accept) {
    while (defined(my $line = <$c>)) {
        last if $line eq "\r\n" || $line eq "\n";
    }
    my $body = '';
    if (open my $fh, '<', $file) {
        local $/;
        $body = <$fh>;
    }
    print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n"
        . $body;
    close $c;
}
