package Scaleset::RealVM;

# What the real-VM tests that run the scaler share (t/realvm_scaler.t,
# t/realvm_metrics.t, t/realvm_upgrade.t; the gateway also serves the
# test driver's upgrade tests): the tiny guest and conf-examples/qemu-domain.xml
# ready for a Scaleset::Libvirtd, free host ports for the guests' port
# forwards, the gateway in front of them, and
# conf-examples/scaler-qemu.yaml with the test's paths, ports and URI.
#
#   my $tpl = Scaleset::RealVM::template($t, $lv);      # its path
#   my $tpl = Scaleset::RealVM::template_with_seed($t, $lv);  # + {{seed}} cdrom
#   my $lo = Scaleset::RealVM::port_range(8);           # $lo .. $lo + 7
#   Scaleset::RealVM::start_gateway($t, 'rvm', metrics => 1);
#   my $yaml = Scaleset::RealVM::scaler_yaml($t, $lv, template => $tpl,
#       ports => $lo, drain_timeout => '5s', rules => 0);
#   Scaleset::RealVM::start_gateway($t, [qw(a b)]);     # ports http_a, http_b
#   Scaleset::RealVM::scaler_yaml_pools($t, $lv, template => $tpl,
#       pools => [ { name => 'a', ports => $lo, extra => "    k: v\n" } ]);

use strict;
use warnings;
use Carp qw(croak);
use IO::Socket::INET;
use HTTP::Tiny;
use File::Copy qw(copy);

# the guest (built by make guest-image when missing) copied where qemu
# (libvirt-qemu) can read it, and the example template with its paths;
# %sub: more replacements (regex => text) of the template; returns the
# template's path
sub template {
    my ($t, $lv, %sub) = @_;
    my $root = $t->root;
    my $guest = "$root/build/guest";
    unless (-f "$guest/vmlinuz" && -f "$guest/initramfs.gz") {
        system('make', '-C', $root, 'guest-image') == 0
            or croak('guest image build failed');
    }
    my $gdir = $lv->dir . '/guest';
    mkdir $gdir;
    chmod 0755, $gdir;
    for my $f (qw(vmlinuz initramfs.gz)) {
        system('install', '-m', '0644', "$guest/$f", "$gdir/$f") == 0
            or croak("install $f");
    }
    my $tpl = $t->read_file("$root/conf-examples/qemu-domain.xml");
    $tpl =~ s/GUEST_DIR/$gdir/g;
    my $logs = $lv->log_dir;
    $tpl =~ s/LOG_DIR/$logs/g;
    while (my ($re, $to) = each %sub) {
        $tpl =~ s/$re/$to/ or croak("conf-examples/qemu-domain.xml: no $re");
    }
    return $t->write_file('rvm-domain.xml', $tpl);
}

# the seed's cdrom (virtio-scsi, on {{seed}}) that template_with_seed
# puts before the template's serial console
our $SEED_CDROM = <<'EOF';
    <controller type='scsi' model='virtio-scsi'/>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{{seed}}'/>
      <target dev='sda' bus='scsi'/>
      <readonly/>
    </disk>
EOF

# template() with the NoCloud seed's cdrom (and %sub): its path
sub template_with_seed {
    my ($t, $lv, %sub) = @_;
    return template($t, $lv, qr/    <serial type='file'>\n/
                                 => "$SEED_CDROM    <serial type='file'>\n",
                    %sub);
}

# the first of $n consecutive free loopback ports, or undef
sub port_range {
    my ($n) = @_;
    for (1 .. 50) {
        my $base = 20000 + int(rand(9000));
        my @s;
        for my $p ($base .. $base + $n - 1) {
            my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                LocalPort => $p, Proto => 'tcp', Listen => 1) or last;
            push @s, $s;
        }
        my $ok = @s == $n;
        close $_ for @s;
        return $base if $ok;
    }
    return undef;
}

# nginx with the module in front of pool $pool (Redis must run): checks
# of /healthz every 500 ms (check => 'interval=... timeout=... fails=...
# passes=...' instead), a failed upstream retried; metrics => 1 adds
# /metrics (scaleset_metrics).  $pool may be a list of pools: each gets
# its upstream and a server of its own on port "http_POOL" (one pool:
# "http")
sub start_gateway {
    my ($t, $pool, %opt) = @_;
    my @pools = ref $pool ? @$pool : ($pool);
    my $metrics = $opt{metrics}
                ? "        location = /metrics { scaleset_metrics; }\n" : '';
    my $check = $opt{check}
                // 'interval=500ms timeout=400ms fails=1 passes=1';
    my $http = "    scaleset_redis 127.0.0.1:%%PORT_redis%%;\n"
             . "    scaleset_gateway_id gw1;\n";
    for my $p (@pools) {
        my $port = ref $pool ? "http_$p" : 'http';
        $http .= <<"EOF";
    upstream $p {
        scaleset $p resync=1s;
        scaleset_health_check uri=/healthz $check;
    }
    server {
        listen 127.0.0.1:%%PORT_$port%%;
        location / {
            proxy_pass http://$p;
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 1s;
            proxy_read_timeout 3s;
        }
        location = /scaleset/status { scaleset_status; }
$metrics    }
EOF
    }
    return $t->start_nginx(workers => $opt{workers} // 2, http => $http);
}

# conf-examples/scaler-qemu.yaml for pool rvm: Redis and API ports, the
# libvirtd's URI (uri => another: a proxy's) and storage pool, template
# (a path), 8 ports from ports,
# interval 500ms, drain_timeout; prometheus => PORT points the rules
# there, else the rules and the prometheus block are left out (rules =>
# 0); more => { regex => text } replaces more
sub scaler_yaml {
    my ($t, $lv, %opt) = @_;
    my $y = $t->read_file($t->root . '/conf-examples/scaler-qemu.yaml');
    my $lo = $opt{ports};
    my %sub = (
        qr/address: 127\.0\.0\.1:6379/ => 'address: 127.0.0.1:' . $t->port('redis'),
        qr/listen: 127\.0\.0\.1:9180/  => 'listen: 127.0.0.1:' . $t->port('api'),
        qr/^interval: 2s$/m              => 'interval: 500ms',
        qr/- name: vm$/m                 => '- name: rvm',
        qr{uri: "qemu:///system"}        => 'uri: "' . ($opt{uri} // $lv->uri) . '"',
        qr{/etc/scaleset/qemu-domain\.xml} => $opt{template},
        qr/pool: scaleset,/              => 'pool: ' . $lv->pool . ',',
        qr/ports: 20000-20999/           => "ports: $lo-" . ($lo + 7),
        qr/drain_timeout: 30s/           => 'drain_timeout: '
                                            . ($opt{drain_timeout} // '5s'),
        %{ $opt{more} // {} },
    );
    if ($opt{prometheus}) {
        $sub{qr{url: "http://127\.0\.0\.1:9090"}}
            = "url: \"http://127.0.0.1:$opt{prometheus}\"";
        $sub{qr/\{pool="vm"/} = '{pool="rvm"';
    } else {
        $sub{qr/^prometheus: .*\n/m} = '';
        $sub{qr/^    # autoscale .*/ms} = '';
    }
    while (my ($re, $to) = each %sub) {
        $y =~ s/$re/$to/g or croak("conf-examples/scaler-qemu.yaml: no $re");
    }
    return $y;
}

# the example's pool as several: pools => [ { name, ports => FIRST,
# nports => N (4), extra => "more pool keys" } ], each pool block of
# scaler_yaml (the same %opt) renamed, on its own ports, with extra after
# its capacity line
sub scaler_yaml_pools {
    my ($t, $lv, %opt) = @_;
    my $y = scaler_yaml($t, $lv, %opt, ports => $opt{pools}[0]{ports});
    my ($head, $pool) = $y =~ /^(.*?\n)(  - name: rvm\n.*)$/s
        or croak('conf-examples/scaler-qemu.yaml: no pool rvm');
    for my $p (@{ $opt{pools} }) {
        (my $b = $pool) =~ s/- name: rvm/- name: $p->{name}/;
        my $hi = $p->{ports} + ($p->{nports} // 4) - 1;
        $b =~ s/ports: \d+-\d+/ports: $p->{ports}-$hi/ or croak('no ports');
        $b =~ s/^(    capacity: .*\n)/$1 . ($p->{extra} \/\/ '')/me
            or croak('no capacity');
        $head .= $b;
    }
    return $head;
}

# the guest's own health switch (tools/guest-image.sh's
# /cgi-bin/health?ok|fail) for instance $id of $pool, through the host
# port forward its member in Redis names: true when the guest answers
# with the state asked for
sub guest_switch {
    my ($t, $pool, $id, $to) = @_;
    my ($addr) = ($t->redis->hget("scaleset:{$pool}:members", $id) // '')
                 =~ /^(\S+)/;
    return 0 unless $addr;
    my $res = HTTP::Tiny->new(timeout => 5)
                        ->get("http://$addr/cgi-bin/health?$to");
    return $res->{success} && $res->{content} =~ /\b$to\b/;
}

# the base volume of $lv's pool made guest image N (build/guest/
# image-N.qcow2): a new file renamed over its path (running guests keep
# the file they opened; libvirt reads the volume's size and modification
# time again whenever it is asked)
sub set_base_image {
    my ($t, $lv, $n) = @_;
    my $tmp = $lv->pool_dir . '/.base.new';
    copy($t->root . "/build/guest/image-$n.qcow2", $tmp) or croak "copy: $!";
    chmod 0644, $tmp;
    rename $tmp, $lv->pool_dir . '/base.qcow2' or croak "rename: $!";
}

1;
