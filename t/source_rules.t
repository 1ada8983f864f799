#!/usr/bin/perl
# source_rules.t: rules of the sources that a compiler does not check,
# read from the C text (comments and string literals masked, so a word in
# either cannot trip it).  No servers are started.
#
#   one out-of-memory policy   in scaler/ (the daemon and scalesetctl),
#                              every allocation goes through xmalloc.h:
#                              no bare malloc, calloc, realloc,
#                              reallocarray, strdup, strndup, asprintf or
#                              vasprintf call outside scaler/xmalloc.c
#                              (docs/design.md, "Out of memory").

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Scaleset::Sources qw(c_mask slurp);

my $root = "$FindBin::Bin/..";
my @files = sort(glob("$root/scaler/*.[ch]"), glob("$root/scaler/*/*.[ch]"));
my $bare = qr/(?<![\w.>])(malloc|calloc|realloc|reallocarray|strdup|strndup|v?asprintf)\s*\(/;

ok(@files > 20, 'the scaler\'s sources are found (' . scalar(@files) . ')');
ok((grep { m{/scaler/ctl/scalesetctl\.c$} } @files), 'scalesetctl is among them');

my @found;
for my $f (@files) {
    next if $f =~ m{/scaler/xmalloc\.c$};
    my $text = c_mask(slurp($f), []);
    my $line = 1;
    for my $l (split /\n/, $text, -1) {
        if ($l =~ $bare) {
            my $call = $1;
            (my $rel = $f) =~ s{^\Q$root\E/}{};
            push @found, "$rel:$line: $call()";
        }
        $line++;
    }
}
is(scalar(@found), 0, 'no bare allocation in scaler/ outside xmalloc.c')
    or diag(join("\n", @found));

# the rule itself catches what it is for (a masked comment or string does
# not count; the x-family and a member named so do not either)
my $probe = c_mask(<<'C', []);
    p = malloc(n);   /* strdup(s) */
    q = "calloc(1, 2)";
    r = xstrdup(s); s->realloc(t); u.strndup(v, 1);
C
my @hits = ($probe =~ /$bare/g);
is_deeply(\@hits, ['malloc'], 'the pattern finds a bare call and only that');

done_testing();
