#!/usr/bin/perl
# Warm pools on real VMs (issue 19 items 3-5): one scaler on
# conf-examples/scaler-qemu.yaml as three pools (t/lib/Scaleset/RealVM.pm)
# behind one gateway, through a libvirtd the script starts:
#   cold    no warm pool: a scale-out boots a guest (TCG);
#   paused  warm_pool { size: 1, state: paused };
#   saved   warm_pool { size: 1, state: saved }.
# ROUNDS (5) times each, from a steady state (every warm pool parked,
# nothing booting): decision (PUT capacity 1, which starts a pass at once)
# -> registered (the member in Redis) -> serving (the guest's own page
# through the gateway, polled every 10 ms); the paused guest's qemu RSS
# before its wake and once serving, the saved guest's managed save on
# disk.  Then 0 -> 6 on the cold pool, BURSTS (2) times each way:
# capacity 6 at once with create_concurrency 4 and with 1 (SIGHUP
# between), and one guest at a time (capacity 1, 2, ... 6, each once the
# one before is up): decision -> every guest up in the gateway.  Prints a markdown section for docs/benchmarks.md; exits
# 77 where the real-VM tests skip (not root, a system libvirtd running).
# bench-section: realvm-warm
#   [ROUNDS=5] [BURSTS=2] perl bench/realvm-warm.pl   (make guest-image first)

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use JSON::PP;
use Time::HiRes qw(time);
use Scaleset::Test;
use Scaleset::Libvirtd;
use Scaleset::RealVM;
use lib "$FindBin::Bin/lib";
use Scaleset::Bench qw(machine median row);

my $why = Scaleset::Libvirtd->skip_reason;
if ($why) {
    print STDERR "realvm-warm: skipped: $why\n";
    exit 77;
}
my $rounds = $ENV{ROUNDS} // 5;
my $bursts = $ENV{BURSTS} // 2;
my $machine = machine();
my $SAVE = '/var/lib/libvirt/qemu/save';

my $t = Scaleset::Test->new(need => [qw(redis nginx scaler)]);
my $lv = Scaleset::Libvirtd->start($t);
$lv->track_prefix('bw');
$lv->purge;
my $tpl = Scaleset::RealVM::template($t, $lv);
my $lo = Scaleset::RealVM::port_range(16) or die "no free ports\n";
$t->start_redis;
my $redis = $t->redis;
my @pools = qw(bwcold bwpaused bwsaved);
Scaleset::RealVM::start_gateway($t, \@pools);

sub conf {
    my ($conc) = @_;
    return $t->write_file('scaler.yaml', Scaleset::RealVM::scaler_yaml_pools(
        $t, $lv, template => $tpl, drain_timeout => '5s', pools => [
        { name => 'bwcold', ports => $lo, nports => 8,
          extra => "    create_concurrency: $conc\n" },
        { name => 'bwpaused', ports => $lo + 8,
          extra => "    warm_pool: { size: 1, state: paused }\n" },
        { name => 'bwsaved', ports => $lo + 12,
          extra => "    warm_pool: { size: 1, state: saved }\n" } ]));
}
my $conf = conf(4);
$t->spawn(name => 'scaler', wait_port => 'api', timeout => 30,
          cmd => [$t->bin('scaleset-scaler'), '-c', $conf]);

sub api_json {
    my ($method, $path, $body) = @_;
    my ($c, $b) = $t->http($method, 'api', $path,
                           defined $body ? (body => $body) : ());
    return ($c, eval { decode_json($b // '') } // {});
}
sub instances { (api_json('GET', "/v1/pools/$_[0]/instances"))[1]{instances} // [] }
sub members { return { $redis->hgetall("scaleset:{$_[0]}:members") } }
sub capacity {
    my ($pool, $n) = @_;
    my ($c) = api_json('PUT', "/v1/pools/$pool/capacity", "{\"capacity\":$n}");
    die "PUT capacity $n on $pool: $c\n" unless $c == 200;
}
sub rss_mib {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    local $/;
    return <$fh> =~ /VmRSS:\s+(\d+)/ ? $1 / 1024 : undef;
}
# allocated bytes of a file, MiB
sub disk_mib { my @s = stat $_[0]; return @s ? $s[12] * 512 / 1048576 : undef }

# steady: the warm pools hold their parked guest, nothing else exists but
# what is in service
sub steady {
    my ($want_cold) = @_;
    return $t->wait_for(sub {
        my @c = @{ instances('bwcold') };
        return 0 if @c != ($want_cold // 0);
        for my $p (qw(bwpaused bwsaved)) {
            my $power = $p eq 'bwpaused' ? 'paused' : 'saved';
            my @i = @{ instances($p) };
            return 0 unless @i == 1 && $i[0]{state} eq 'warm'
                            && $i[0]{power} eq $power;
        }
        1;
    }, timeout => 300, interval => 0.5, what => 'steady state')
        || die "no steady state\n";
}
sub emptied {
    my ($pool, $keep) = @_;
    capacity($pool, 0);
    $t->wait_for(sub { !%{ members($pool) }
                       && !grep { $_->{state} ne 'warm' } @{ instances($pool) } },
                 timeout => 120, interval => 0.2, what => "$pool emptied")
        || die "$pool not emptied\n";
}

# --- decision -> serving: cold, paused, saved --------------------------------
my (%reg, %serve, %wake_ready, @rss_paused, @rss_running, @save_mib,
    @overlay_mib);
for my $r (1 .. $rounds) {
    for my $pool (@pools) {
        steady(0);
        my ($warm) = map { $_->{id} } grep { $_->{state} eq 'warm' }
                     @{ instances($pool) };
        my $pid = $warm && $pool eq 'bwpaused' ? $lv->qemu_pid($warm) : undef;
        push @rss_paused, rss_mib($pid) if $pid;
        if ($warm && $pool eq 'bwsaved') {
            push @save_mib, disk_mib("$SAVE/$warm.save");
            push @overlay_mib, disk_mib($lv->pool_dir . "/$warm.qcow2");
        }
        my $mark = length $t->log('scaler');
        my ($tr, $id);
        my $t0 = time;
        capacity($pool, 1);
        $t->wait_for(sub {
            $tr //= time if %{ members($pool) };
            my ($c, $b) = $t->http_get("http_$pool", '/', timeout => 1);
            ($c // 0) == 200 && ($b // '') =~ m{<h1>(\w+-\d+)</h1>}
                && ($id = $1);
        }, timeout => 300, interval => 0.01, what => "$pool serving")
            or die "$pool: never served\n";
        my $ts = time;
        push @{ $reg{$pool} }, ($tr // $ts) - $t0;
        push @{ $serve{$pool} }, $ts - $t0;
        die "$pool: served by $id, not the warm $warm\n"
            if $warm && $id ne $warm;
        if (substr($t->log('scaler'), $mark)
            =~ /id=\Q$id\E registered .*\(ready (\d+) ms after its wake\)/) {
            push @{ $wake_ready{$pool} }, $1 / 1000;
        }
        push @rss_running, rss_mib($pid) if $pid;
        printf STDERR "round %d %s: registered %.2f s, serving %.2f s\n", $r,
            $pool, $reg{$pool}[-1], $serve{$pool}[-1];
        emptied($pool);
    }
}

# --- 0 -> 6 on the cold pool, create_concurrency 4 and 1 -------------------
sub all_up {
    my ($n) = @_;
    my $st = $t->gateway_status('http_bwcold', '/scaleset/status');
    my @m = @{ $st->{pools}{bwcold}{members} // [] };
    return @m == $n && !grep { $_->{health} ne 'up' } @m;
}
my %burst;
for my $b (1 .. $bursts) {
    for my $mode (4, 1, 'steps') {
        my $conc = $mode eq 'steps' ? 4 : $mode;
        conf($conc);
        my $mark = length $t->log('scaler');
        $t->signal('scaler', 'HUP');
        $t->wait_for(sub { substr($t->log('scaler'), $mark)
                           =~ /configuration reloaded/ }, timeout => 30)
            or die "no reload\n";
        steady(0);
        my $t0 = time;
        for my $n ($mode eq 'steps' ? (1 .. 6) : (6)) {
            capacity('bwcold', $n);
            $t->wait_for(sub { all_up($n) }, timeout => 600, interval => 0.1,
                         what => "$n up") or die "0 -> 6 timed out\n";
        }
        push @{ $burst{$mode} }, time - $t0;
        printf STDERR "0 -> 6, %s: %.1f s\n", $mode eq 'steps'
            ? 'one guest at a time' : "create_concurrency $conc",
            $burst{$mode}[-1];
        emptied('bwcold');
    }
}

$t->stop('scaler');
$lv->cleanup;
$t->stop_all;

my $cmd = "ROUNDS=$rounds BURSTS=$bursts perl bench/realvm-warm.pl";
print <<"EOF2";
### Warm pools on real VMs (bench/realvm-warm.pl)

Machine: $machine.
One scaler on conf-examples/scaler-qemu.yaml as three pools (the tiny
TCG guest, 96 MiB, qcow2 overlay, one host port forward, readiness
`GET /healthz`) behind one gateway (checks every 500 ms, a new member
checked at once): `cold` without a warm pool, `paused` and `saved` with
`warm_pool: { size: 1, state: paused|saved }`. Each round starts from a
steady state (every warm pool parked, nothing booting); decision =
`PUT capacity 1` (a pass starts at once); registered = the member in
Redis; serving = the guest's own page through the gateway (polled every
10 ms). $rounds rounds; medians, then every run.

| decision → | cold (boot) | paused (resume) | saved (restore) |
|---|---|---|---|
EOF2
for my $what (['registered', \%reg], ['serving through the gateway', \%serve]) {
    my ($name, $h) = @$what;
    printf "| %s | %s |\n", $name, join(' | ', map {
        sprintf('**%.2f s** (%s)', median(@{ $h->{$_} }),
                join(', ', map { sprintf '%.2f', $_ } @{ $h->{$_} }))
    } @pools);
}
printf "| wake → ready again (scaler log) | – | %.2f s | %.2f s |\n",
    median(@{ $wake_ready{bwpaused} // [0] }),
    median(@{ $wake_ready{bwsaved} // [0] });
printf "\nFrom a paused warm guest the scale-out serves **%.0f×** sooner "
     . "than a boot (%.2f s against %.2f s); from a saved one %.1f×.\n\n",
    median(@{ $serve{bwcold} }) / median(@{ $serve{bwpaused} }),
    median(@{ $serve{bwpaused} }), median(@{ $serve{bwcold} }),
    median(@{ $serve{bwcold} }) / median(@{ $serve{bwsaved} });
print "| what a warm guest costs the host | median | all |\n|---|---|---|\n";
row('qemu RSS of the paused guest', '%.0f MiB', @rss_paused);
row('the same guest running (serving)', '%.0f MiB', @rss_running);
row('saved guest: its managed save on disk (no qemu, no RSS)', '%.0f MiB',
    @save_mib);
row('saved guest: its overlay (as every guest)', '%.1f MiB', @overlay_mib);
printf "\n0 → 6 guests on the cold pool (~190 MiB of qemu each), decision "
     . "to every one up in the gateway, $bursts runs each:\n\n"
     . "| 0 → 6 | median | all |\n|---|---|---|\n";
row('capacity 6 at once, `create_concurrency: 4` (the default: 4 defines '
    . 'and starts at once on the host)', '%.1f s', @{ $burst{4} });
row('capacity 6 at once, `create_concurrency: 1` (the starts one after '
    . 'another, the boots overlapping)', '%.1f s', @{ $burst{1} });
row('one guest at a time (capacity 1, 2, ... 6, each once the one before '
    . 'is up)', '%.1f s', @{ $burst{steps} });
printf "\nRatios to capacity 6 at once with `create_concurrency: 4`: "
     . "**%.2f** (`create_concurrency: 1`), **%.2f** (one at a time).\n\n"
     . "Command: `%s`\n",
    median(@{ $burst{1} }) / median(@{ $burst{4} }),
    median(@{ $burst{steps} }) / median(@{ $burst{4} }), $cmd;
