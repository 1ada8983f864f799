#!/usr/bin/perl
# scaler logs: log.level drops the lines below it, from the start and
# again after SIGHUP; when JOURNAL_STREAM names the scaler's stderr (as
# systemd sets it for a unit logging to the journal) every line starts
# with its sd-daemon(3) priority, <4> for a warning, <6> for info; the
# pool is a field of the line (pool=), not part of the message.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;

# a Prometheus that is not there: the rule's lost value is a warning
my $prom = $t->port('prometheus');
my $rule = "    rules:\n      - { name: busy, query: 'up', operator: \">\", "
         . "threshold: 5, action: { change: 1 } }\n";
my %opt = (pools => [ { name => 'web', capacity => [1, 3, 1],
                        extra => $rule } ]);
my $s = Scaleset::Scaler->new($t, %opt,
    top_extra => "log: { level: warn }\n"
               . "prometheus: { url: http://127.0.0.1:$prom, timeout: 200ms }\n");
my $conf = $s->write_config;

# the log file the harness appends the scaler's stderr to, made first so
# that JOURNAL_STREAM can name it ("DEVICE:INODE", decimal)
my $log = $t->write_file('scaler.log', '');
my @st = stat $log or die "stat $log: $!";
$t->spawn(name => 'scaler', wait_port => 'api',
          env => { JOURNAL_STREAM => "$st[0]:$st[1]" },
          cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);

ok($t->wait_for(sub { $t->log('scaler') =~ /^<4>scaler: warn: pool=web autoscale: rule busy: no value \(unreachable/m },
                timeout => 10),
   'the lost value: a warning with the journal prefix, the pool a field')
    or diag $t->log('scaler');
$t->wait_for(sub { keys %{ $s->members('web') } == 1 }, timeout => 10,
             what => 'the first instance registered');
my $text = $t->log('scaler');
unlike($text, qr/^<6>/m, 'level warn: no info line (nothing of the start, '
       . 'the creation or the registration)');
my @bad = grep { !/^<[0-7]>scaler: / } split /\n/, $text;
is_deeply(\@bad, [], 'every line starts with its priority');

# SIGHUP with level info: the reload's own line is written
$s->{opt}{top_extra} = "log: { level: info }\n"
                     . "prometheus: { url: http://127.0.0.1:$prom, timeout: 200ms }\n";
$s->write_config;
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $t->log('scaler') =~ /^<6>scaler: configuration reloaded$/m },
                timeout => 10),
   'after SIGHUP with log.level info, info lines are written');

# a bad level is refused, with its line, and the running one kept
$t->write_file('scaler.yaml', "log:\n  level: loud\n");
$t->signal('scaler', 'HUP');
ok($t->wait_for(sub { $t->log('scaler') =~ /^<3>scaler: error: reload rejected, keeping the running configuration: \S+scaler\.yaml:2: log\.level "loud": expected error, warn, info or debug$/m },
                timeout => 10),
   'log.level "loud" refused as an error with file:line');

$t->done;
