#!/usr/bin/perl
# scalesetctl's exit status (0 ok, 1 refused by the API with its message,
# 2 usage, 3 the API unreachable) and "completion bash": the script, run
# by a real bash, completes verbs, options, pool names and instance ids
# from a real scaler (and passes --api/--token-file on).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;
use Scaleset::Sources qw(ctl_verbs);

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
my $ctl = $t->bin('scalesetctl');
my $dir = $t->dir;

sub run {
    my ($cmd) = @_;
    my $out = qx{$cmd 2>&1};
    return ($? >> 8, $out);
}

# usage: 2, before any request (the API is not even there)
my $closed = $t->port('closed');
for my $c ('', 'nope', 'show', 'scale web', 'delete web', 'pools extra',
           '--frobnicate pools', 'scale web three', 'completion zsh') {
    my ($rc, $out) = run("$ctl --api http://127.0.0.1:$closed $c");
    is($rc, 2, "'scalesetctl $c': usage, exit 2") or diag $out;
}
my ($rc, $out) = run("$ctl --help");
is($rc, 0, '--help exits 0');
like($out, qr/^  completion bash\s/m, 'usage lists completion');
like($out, qr/Exit status: 0 ok, 1 refused by the API, 2 usage, 3 API unreachable/,
     'and the exit codes');

# unreachable: 3, with curl's reason
($rc, $out) = run("$ctl --api http://127.0.0.1:$closed pools");
is($rc, 3, 'API unreachable: exit 3');
like($out, qr{^scalesetctl: http://127\.0\.0\.1:$closed/v1/pools: Couldn't connect}m,
     'names the URL and why');

$t->start_redis;
$t->write_file('token', "tok\n");
my $s = Scaleset::Scaler->new($t, api_extra => "token_file: $dir/token",
    pools => [ { name => 'web', capacity => [0, 4, 2] },
               { name => 'api', capacity => [0, 4, 0] } ]);
$s->start;
my $api = 'http://127.0.0.1:' . $t->port('api');
$t->wait_for(sub { keys %{ $s->members('web') } == 2 }, timeout => 20,
             what => '2 members');

($rc, $out) = run("$ctl --api $api --token-file $dir/token pools");
is($rc, 0, 'pools: exit 0');
($rc, $out) = run("$ctl --api $api --token-file $dir/token scale web 9");
is($rc, 1, 'refused: exit 1');
is($out, "scalesetctl: capacity 9 is outside min..max 0..4\n", "the API's message");
# history: the capacity change just made, newest first, with its source
($rc, $out) = run("$ctl --api $api --token-file $dir/token scale web 3");
is($rc, 0, 'scale web 3: exit 0');
($rc, $out) = run("$ctl --api $api --token-file $dir/token history web");
is($rc, 0, 'history: exit 0') or diag $out;
like($out, qr/^pool web: \d+ samples every 5s over the last 3600s$/m, 'history: its window');
like($out, qr/^\S+ \S+ +api +2 -> 3 /m, 'history: the change 2 -> 3 by the API') or diag $out;
($rc, $out) = run("$ctl --api $api --token-file $dir/token --json history web");
like($out, qr/"decisions"/, 'history --json: the API\'s object');
($rc, $out) = run("$ctl --api $api --token-file $dir/token history nope");
is($rc, 1, 'history of no such pool: refused, exit 1') or diag $out;
# the third instance registered before the completion of ids below
$t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 20,
             what => '3 members');
($rc, $out) = run("$ctl --api $api --token-file $dir/nope pools");
is($rc, 2, 'unreadable token file: usage, exit 2');

# completion, in bash
($rc, $out) = run("$ctl completion bash");
is($rc, 0, 'completion bash: exit 0');
$t->write_file('completion.bash', $out);
my $bindir = $t->build;
$bindir = "$bindir/asan" if $ENV{SCALESET_ASAN_BINS};
sub complete {
    my (@words) = @_;
    my $cword = $#words;
    my $w = join ' ', map { "'$_'" } @words;
    my $script = "PATH=$bindir:\$PATH; source $dir/completion.bash; "
               . "COMP_WORDS=($w); COMP_CWORD=$cword; _scalesetctl; "
               . 'printf "%s\n" "${COMPREPLY[@]}"';
    $t->write_file('complete.sh', $script);
    my $r = qx{bash $dir/complete.sh 2>&1};
    return [ sort grep { length } split /\n/, $r ];
}
# every verb of scalesetctl's table (read from its source)
my @verbs = sort(ctl_verbs());
cmp_ok(scalar @verbs, '>=', 6, "scalesetctl's verbs: @verbs");
my %verb = map { $_ => 1 } @verbs;
ok(!grep({ !$verb{$_} } qw(upgrade upgrade-status upgrade-cancel rollback)),
   'the upgrade verbs are among them');
is_deeply(complete('scalesetctl', ''), \@verbs, 'completes the verbs');
is_deeply(complete('scalesetctl', 'sc'), ['scale'], 'a verb by prefix');
is_deeply(complete('scalesetctl', '--t'), ['--template', '--token-file'], 'an option');
is_deeply(complete('scalesetctl', '--api', $api, '--token-file', "$dir/token", 'show', ''),
          [qw(api web)], 'pool names from the scaler, with --api and --token-file');
is_deeply(complete('scalesetctl', '--api', $api, '--token-file', "$dir/token", 'delete', 'web', ''),
          [sort keys %{ $s->members('web') }], 'instance ids of the pool');
is_deeply(complete('scalesetctl', 'completion', ''), ['bash'], 'completion bash');

$t->done;
