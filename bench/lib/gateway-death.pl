#!/usr/bin/perl
# Sends requests through the gateway in a loop, kills the victim nginx
# (master and workers, SIGKILL), and prints the milliseconds from the kill
# to the last request whose $upstream_addr (X-Upstream) names the victim.
#
#   gateway-death.pl GATEWAY_PORT VICTIM_PORT VICTIM_PIDFILE

use strict;
use warnings;

use HTTP::Tiny;
use Time::HiRes qw(time sleep);

my ($gport, $vport, $pidfile) = @ARGV;
die "usage: $0 GATEWAY_PORT VICTIM_PORT VICTIM_PIDFILE\n" unless $pidfile;

my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
my $url = "http://127.0.0.1:$gport/";

# the victim serves before it dies
my $end = time + 10;
while (time < $end) {
    my $res = $ua->get($url);
    last if ($res->{headers}{'x-upstream'} // '') =~ /:$vport\b/;
}

open my $fh, '<', $pidfile or die "$pidfile: $!";
chomp(my $master = <$fh>);
close $fh;
my @workers = split ' ', `pgrep -P $master`;

my ($killed, $last, $errors) = (0, 0, 0);
my $start = time;
while (time - $start < 3) {
    if (!$killed && time - $start > 0.3) {
        kill 'KILL', $master, @workers;
        $killed = time;
    }
    my $res = $ua->get($url);
    $errors++ if $res->{status} != 200;
    if ($killed && ($res->{headers}{'x-upstream'} // '') =~ /:$vport\b/) {
        $last = time;
    }
}

print STDERR "client errors: $errors\n" if $errors;
printf "%.0f\n", $last ? 1000 * ($last - $killed) : 0;
