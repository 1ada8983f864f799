#!/usr/bin/perl
# splice.pl DOC NAME FILE: replaces what docs/benchmarks.md (DOC) has
# between "<!-- bench:NAME -->" and "<!-- /bench:NAME -->" with FILE.
# Dies, changing nothing, when the markers are missing.
use strict;
use warnings;

my ($doc, $name, $file) = @ARGV;
die "usage: splice.pl DOC NAME FILE\n" unless defined $file;
local $/;
open my $d, '<', $doc or die "$doc: $!\n";
my $text = <$d>;
close $d;
open my $f, '<', $file or die "$file: $!\n";
my $new = <$f>;
close $f;
$new .= "\n" unless $new =~ /\n\z/;
$text =~ s/(<!-- bench:\Q$name\E -->\n).*?(<!-- \/bench:\Q$name\E -->)/$1$new$2/s
    or die "$doc: no <!-- bench:$name --> ... <!-- /bench:$name --> block\n";
open my $o, '>', "$doc.tmp" or die "$doc.tmp: $!\n";
print $o $text;
close $o or die "$doc.tmp: $!\n";
rename "$doc.tmp", $doc or die "$doc: $!\n";
