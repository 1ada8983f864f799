#!/usr/bin/perl
# nginx-conf.pl --dir DIR [--module PATH] [--workers N] [--log-level L]
#               [--main TEXT] [--events TEXT] < HTTP-TEXT
# The nginx.conf of a benchmark's nginx on stdout, made by the tests' own
# generator (t/lib/Scaleset/NginxConf.pm), with stdin inside http {}.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../t/lib";
use Getopt::Long;
use Scaleset::NginxConf;

my %o;
GetOptions(\%o, 'dir=s', 'module=s', 'workers=i', 'log-level=s', 'main=s',
           'events=s') && $o{dir}
    or die "usage: nginx-conf.pl --dir DIR [--module PATH] [--workers N] "
         . "[--log-level L] [--main TEXT] [--events TEXT] < HTTP-TEXT\n";
my $http = do { local $/; <STDIN> } // '';
print Scaleset::NginxConf::text(dir => $o{dir}, module => $o{module},
    workers => $o{workers}, log_level => $o{'log-level'}, main => $o{main},
    events => $o{events}, http => $http);
