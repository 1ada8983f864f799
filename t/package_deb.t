#!/usr/bin/perl
# The Debian packages of make deb (build/deb/, made by make check before the
# tests) and make install:
#
#   - lintian reports no errors on them;
#   - libnginx-mod-http-scaleset holds the module in nginx's module
#     directory and mod-http-scaleset.conf in modules-available, and depends
#     on the nginx ABI it was built for (nginx-dev's abisubstvars);
#   - scaleset-scaler holds the daemon, scalesetctl, the unit, sysusers and
#     tmpfiles entries, the dashboard, the man pages, with
#     /etc/scaleset/scaler.yaml a conffile;
#   - make install DESTDIR=... PREFIX=/usr lays out the same files;
#   - installed with dpkg -i on this machine, seen through an overlay of
#     its root (a mount namespace and chroot: the machine itself is not
#     changed; the dependencies are the ones make deps installed): the
#     postinst links the module into modules-enabled and creates the user,
#     nginx -t loads the module with the system's nginx.conf, scaleset-scaler
#     -t passes on the shipped configuration, the dashboard's files are
#     found; dpkg -r leaves only the conffiles (and dh_nginx's .removed
#     link), dpkg --purge nothing.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Find;
use Scaleset::Sources qw(slurp);
use Scaleset::Test;

my $t = Scaleset::Test->new;
my $root = $t->root;
my $build = $t->build;
my ($version) = slurp("$root/debian/changelog") =~ /^\S+ \(([^)]+)\)/;
ok($version, "version $version from debian/changelog");
my $arch = qx{dpkg --print-architecture}; chomp $arch;
my %deb = map { $_ => "$build/deb/${_}_${version}_$arch.deb" }
          qw(libnginx-mod-http-scaleset scaleset-scaler);
for my $d (values %deb) {
    -f $d or BAIL_OUT("$d missing: run make deb");
}
my $changes = "$build/deb/scaleset_${version}_$arch.changes";

# stale packages test nothing: newer than every source they are made of
my $newest = 0;
find(sub { $newest = (stat)[9] if -f && /\.(c|h|js|html|css|md)$|^(Makefile|config|control|rules)$/
                                && (stat)[9] > $newest },
     map { "$root/$_" } qw(scaler ngx_module shared debian docs Makefile config));
for my $p (sort keys %deb) {
    cmp_ok((stat $deb{$p})[9], '>=', $newest, "$p is newer than its sources (else: make deb)");
}

# --- lintian -------------------------------------------------------------

Scaleset::Test::_which('lintian') or BAIL_OUT('lintian not found: run make deps');
my $out = qx{lintian --fail-on error --tag-display-limit 0 $changes 2>&1};
is($? >> 8, 0, 'lintian: no errors') or diag $out;
unlike($out, qr/^E: /m, 'no E: tags');
diag "lintian:\n$out" if $ENV{TEST_VERBOSE} && $out =~ /\S/;

# --- contents ------------------------------------------------------------

sub contents {
    my ($deb) = @_;
    my %f;
    for (split /\n/, qx{dpkg-deb -c $deb}) {
        my @w = split ' ', $_;
        my $path = $w[5];
        $path =~ s{^\./}{/};
        next if $path =~ m{/$};                 # directories
        $f{$path} = 1;
    }
    return \%f;
}
sub field { my ($deb, $f) = @_; my $v = qx{dpkg-deb -f $deb $f}; chomp $v; $v }

my $mod = contents($deb{'libnginx-mod-http-scaleset'});
my $sc = contents($deb{'scaleset-scaler'});
my ($modules_path) = slurp('/usr/share/nginx/src/conf_flags') =~ /--modules-path=(\S+)/;
ok($mod->{"$modules_path/ngx_http_scaleset_module.so"}, "module in $modules_path");
ok($mod->{'/usr/share/nginx/modules-available/mod-http-scaleset.conf'},
   'mod-http-scaleset.conf in modules-available');
ok($mod->{'/usr/share/man/man8/ngx_http_scaleset_module.8.gz'}, 'ngx_http_scaleset_module(8)');
my ($abi) = slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars') =~ /^nginx:abi=(\S+)/m;
like(field($deb{'libnginx-mod-http-scaleset'}, 'Depends'), qr/(^|, )\Q$abi\E(,|$)/,
     "depends on $abi, the ABI it was built for");

for my $f (qw(/usr/sbin/scaleset-scaler /usr/bin/scalesetctl /etc/scaleset/scaler.yaml
              /etc/scaleset/web-domain.xml /lib/systemd/system/scaleset-scaler.service
              /usr/lib/sysusers.d/scaleset-scaler.conf /usr/lib/tmpfiles.d/scaleset-scaler.conf
              /usr/share/scaleset/ui/index.html /usr/share/scaleset/ui/app.js
              /usr/share/scaleset/ui/style.css /usr/share/man/man1/scalesetctl.1.gz
              /usr/share/man/man5/scaleset.yaml.5.gz /usr/share/man/man8/scaleset-scaler.8.gz
              /usr/share/bash-completion/completions/scalesetctl
              /usr/share/doc/scaleset-scaler/examples/prometheus-rules.yml
              /usr/share/doc/scaleset-scaler/examples/grafana-dashboard.json)) {
    ok($sc->{$f}, "scaleset-scaler has $f");
}
my $conffiles = qx{dpkg-deb -I $deb{'scaleset-scaler'} conffiles 2>&1};
like($conffiles, qr{^/etc/scaleset/scaler\.yaml$}m, '/etc/scaleset/scaler.yaml is a conffile');

# --- make install lays out the same files ----------------------------------

my $dest = $t->dir . '/destdir';
$out = qx{cd $root && make -s install DESTDIR=$dest PREFIX=/usr docdir=/usr/share/doc/scaleset-scaler 2>&1};
is($?, 0, 'make install DESTDIR=... PREFIX=/usr') or diag $out;
my %inst;
find({ no_chdir => 1, wanted => sub { (my $p = $File::Find::name) =~ s/^\Q$dest\E//;
                                      $inst{$p} = 1 if -f $_ || -l $_ } }, $dest);
my %pkg;
for my $p (keys %$mod, keys %$sc) {
    next if $p =~ m{^/usr/share/doc/[^/]+/(copyright|changelog\.gz)$};   # dh adds them
    (my $q = $p) =~ s/\.gz$// if $p =~ m{^/usr/share/(man|doc)/};        # dh compresses
    $pkg{$q // $p} = 1;
}
is_deeply([sort keys %inst], [sort keys %pkg], 'make install lays out the files of the packages');

# --- install, run, remove: on an overlay of this machine's root -------------

SKIP: {
    my $why = qx{unshare -m true 2>&1};
    skip "no mount namespace here: $why", 1 if $?;
    my $ov = $t->dir . '/overlay';
    mkdir $_ or die "$_: $!" for $ov, "$ov/up", "$ov/work", "$ov/root";
    my $debs = join ' ', map { $deb{$_} } sort keys %deb;
    my $nginx_t = 'nginx -t -q 2>&1';
    my $script = <<"EOF";
set -u
mount -t overlay overlay -o lowerdir=/,upperdir=$ov/up,workdir=$ov/work $ov/root || exit 100
mount -t proc proc $ov/root/proc
mount --rbind /dev $ov/root/dev
mount -t tmpfs tmpfs $ov/root/tmp
mount -t tmpfs tmpfs $ov/root/run
mkdir -p $ov/root/tmp/debs && cp $debs $ov/root/tmp/debs/
chroot $ov/root /bin/sh -c '
    export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
    # where the packages and their scripts write (the rest of the live
    # root below the overlay changes with whatever else runs here)
    scan="/usr /lib /etc/nginx /etc/scaleset /etc/systemd /etc/passwd /etc/group /var/lib/systemd /var/lib/scaleset"
    dpkg -r libnginx-mod-http-scaleset scaleset-scaler >/dev/null 2>&1
    dpkg --purge libnginx-mod-http-scaleset scaleset-scaler >/dev/null 2>&1
    find \$scan -xdev -print 2>/dev/null | sort > /tmp/before
    echo "== install"; dpkg -i /tmp/debs/*.deb 2>&1; echo "rc=\$?"
    echo "== enabled"; readlink /etc/nginx/modules-enabled/50-mod-http-scaleset.conf
    echo "== user"; getent passwd scaleset | cut -d: -f1,6
    echo "== nginx -t"; $nginx_t; echo "rc=\$?"
    echo "== scaler -t"; cd /tmp && scaleset-scaler -t -c /etc/scaleset/scaler.yaml 2>&1; echo "rc=\$?"
    echo "== ctl"; scalesetctl --help >/dev/null; echo "rc=\$?"
    echo "== man"; man -w scaleset.yaml 2>&1
    echo "== remove"; dpkg -r libnginx-mod-http-scaleset scaleset-scaler 2>&1; echo "rc=\$?"
    find \$scan -xdev -print 2>/dev/null | sort > /tmp/after-remove
    echo "== left after remove"; comm -13 /tmp/before /tmp/after-remove
    echo "== purge"; dpkg --purge libnginx-mod-http-scaleset scaleset-scaler 2>&1; echo "rc=\$?"
    find \$scan -xdev -print 2>/dev/null | sort > /tmp/after-purge
    echo "== left after purge"; comm -13 /tmp/before /tmp/after-purge
    echo "== end"
'
EOF
    $t->write_file('overlay.sh', $script);
    $out = qx{unshare -m --propagation private sh $ov/../overlay.sh 2>&1};
    skip "cannot mount an overlay of / here: $out", 1 if $? >> 8 == 100;
    my %sec;
    my $cur = '';
    for (split /\n/, $out) {
        if (/^== (.*)$/) { $cur = $1; $sec{$cur} = ''; next }
        $sec{$cur} .= "$_\n";
    }
    ok(exists $sec{end}, 'the install script ran to its end') or diag $out;
    like($sec{install} // '', qr/rc=0\n\z/, 'dpkg -i of both packages') or diag $sec{install};
    is($sec{enabled} // '', "/usr/share/nginx/modules-available/mod-http-scaleset.conf\n",
       'postinst linked the module into /etc/nginx/modules-enabled');
    is($sec{user} // '', "scaleset:/var/lib/scaleset\n", 'sysusers created the scaleset user');
    like($sec{'nginx -t'} // '', qr/^rc=0\n\z/, 'nginx -t loads the module with the system nginx.conf')
        or diag $sec{'nginx -t'};
    like($sec{'scaler -t'} // '', qr{^/etc/scaleset/scaler\.yaml: configuration ok\nrc=0\n\z},
         'scaleset-scaler -t passes on the shipped configuration') or diag $sec{'scaler -t'};
    like($sec{ctl} // '', qr/^rc=0\n\z/, 'scalesetctl runs');
    like($sec{man} // '', qr{^/usr/share/man/man5/scaleset\.yaml\.5\.gz$}m, 'man finds scaleset.yaml(5)');
    like($sec{remove} // '', qr/rc=0\n\z/, 'dpkg -r') or diag $sec{remove};
    # what remove leaves: the conffiles (and the directories holding them),
    # the user dpkg never removes, dh_nginx's ".removed" link and
    # deb-systemd-helper's state (both go with purge)
    my @left = grep { !m{^/etc/scaleset(/scaler\.yaml|/web-domain\.xml)?$}
                      && !m{^/etc/nginx/modules-enabled/50-mod-http-scaleset\.conf\.removed$}
                      && !m{^/etc/(passwd|group|shadow|gshadow)-?$}
                      && !m{^/var/lib/systemd/deb-systemd-helper-enabled/scaleset-scaler\.service\.dsh-also$}
                      && !m{^/var/lib/scaleset$} }
               split /\n/, $sec{'left after remove'} // '';
    is(join("\n", @left), '', 'dpkg -r leaves no files but the conffiles');
    like($sec{'left after remove'} // '', qr{^/etc/scaleset/scaler\.yaml$}m,
         'the conffile stays after remove');
    like($sec{purge} // '', qr/rc=0\n\z/, 'dpkg --purge') or diag $sec{purge};
    @left = grep { !m{^/etc/(passwd|group|shadow|gshadow)-?$} && !m{^/var/lib/scaleset$} }
            split /\n/, $sec{'left after purge'} // '';
    is(join("\n", @left), '', 'dpkg --purge leaves nothing (but the user and its home)');
}

$t->done;
