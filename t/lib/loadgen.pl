#!/usr/bin/perl
# loadgen: steady HTTP load at a rate read from a file, every response
# counted.  Used by the end-to-end tests.
#
#   loadgen.pl URL RATE_FILE STATS_FILE
#
# RATE_FILE holds requests per second (re-read every 100 ms; 0 pauses).
# STATS_FILE is rewritten (atomically) every 100 ms and at exit with JSON:
#   { "ok": N, "failed": N, "codes": { "502": N, ... },
#     "errors": [ "first few failures" ],
#     "first": { "BODY": unix time of its first 200 }, "hits": { BODY: N } }
# A 200's body (first line) names the instance that answered.

use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);

my ($url, $rate_file, $stats_file) = @ARGV;
die "usage: loadgen.pl URL RATE_FILE STATS_FILE\n" unless $stats_file;

my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
my %st = (ok => 0, failed => 0, codes => {}, errors => [], first => {},
          hits => {});
my $json = JSON::PP->new->canonical;

sub save {
    open my $fh, '>', "$stats_file.tmp" or return;
    print $fh $json->encode(\%st);
    close $fh;
    rename "$stats_file.tmp", $stats_file;
}

sub rate {
    open my $fh, '<', $rate_file or return 0;
    my $r = <$fh> // 0;
    return $r =~ /^\s*([\d.]+)/ ? $1 : 0;
}

my $stop = 0;
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };

my ($next, $reread, $saved, $r) = (time, 0, 0, 0);
while (!$stop) {
    my $now = time;
    if ($now >= $reread) {
        $r = rate();
        $reread = $now + 0.1;
    }
    if ($now >= $saved) {
        save();
        $saved = $now + 0.1;
    }
    if ($r <= 0) {
        sleep 0.05;
        $next = time;
        next;
    }
    if ($now < $next) {
        sleep($next - $now);
        next;
    }
    # behind by more than a second: do not try to catch up in a burst
    $next = $now if $now - $next > 1;
    $next += 1 / $r;

    my $res = $ua->get($url);
    if ($res->{status} == 200) {
        my ($who) = ($res->{content} // '') =~ /^(\S+)/;
        $who //= '';
        $st{ok}++;
        $st{hits}{$who}++;
        $st{first}{$who} //= time;
    } else {
        $st{failed}++;
        $st{codes}{$res->{status}}++;
        push @{ $st{errors} }, sprintf('%.3f %s %s', time, $res->{status},
                                       substr($res->{content} // '', 0, 80))
            if @{ $st{errors} } < 10;
    }
}
save();
exit 0;
