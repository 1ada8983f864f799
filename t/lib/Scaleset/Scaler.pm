package Scaleset::Scaler;

# Helpers for the scaler tests: a domain template, a config from a few
# keys, the scaler started on it, JSON API calls.
#
#   my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web', ... } ]);
#   $s->start; $s->api('PUT', '/v1/pools/web/capacity', {capacity => 3});
#   $s->members('web')  # hash id => record

use strict;
use warnings;
use JSON::PP;

my $TEMPLATE = <<'EOF2';
<domain type='test'>
  <name>{{name}}</name>
  <uuid>{{uuid}}</uuid>
  <description>{{pool}} {{zone}} {{version}} {{address}}</description>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
EOF2

# devices => "XML lines": a <devices> block for the template (disks on
# {{volume}} and {{seed}})
sub new {
    my ($class, $t, %opt) = @_;
    my $self = bless { t => $t, opt => \%opt, json => JSON::PP->new }, $class;
    my $tpl = $TEMPLATE;
    $tpl =~ s{</domain>}{  <devices>\n$opt{devices}  </devices>\n</domain>}
        if $opt{devices};
    $t->write_file('dom.xml', $tpl);
    return $self;
}

# pools => [ { name, zones => [[z1, uri], [z2, [uri, uri]], ...] (a list
#              of URIs: the zone's hosts), capacity => [min,max,def],
#              version => template version (1),
#              extra => "yaml lines",
#              template_extra => "volume: {...}" (more template keys),
#              templates => "    templates: ...\n" (YAML lines instead of
#                            the template: line) } ],
# api_extra => 'token_file: ...',
# top_extra => "top-level yaml lines" (e.g. the prometheus block),
# redis => 'the redis mapping's keys' (default: the address of the server
#           named redis), redis_extra => 'more of its keys',
# api_port => name of the API's port (default api), name => the server's
#           name (default scaler; also the config file's, NAME.yaml)
# bin => another scaleset-scaler (a benchmark's baseline build)
sub write_config {
    my ($self) = @_;
    my $t = $self->{t};
    my $o = $self->{opt};
    my $dir = $t->dir;
    my $redis = $o->{redis} // "address: 127.0.0.1:" . $t->port('redis');
    my $y = "redis: { $redis"
          . ($o->{redis_extra} ? ", $o->{redis_extra}" : '') . " }\n"
          . "api: { listen: 127.0.0.1:" . $t->port($o->{api_port} // 'api')
          . ($o->{api_extra} ? ", $o->{api_extra}" : '') . " }\n"
          . "interval: " . ($o->{interval} // '200ms') . "\n"
          . ($o->{top_extra} // '') . "pools:\n";
    for my $p (@{ $o->{pools} }) {
        my ($min, $max, $def) = @{ $p->{capacity} // [0, 20, 0] };
        $y .= "  - name: $p->{name}\n    zones:\n";
        for my $z (@{ $p->{zones} // [['z1', 'test:///default']] }) {
            # [name, uri] or [name, [uri, uri, ...]]: a zone of hosts
            $y .= ref $z->[1]
                ? "      - { name: $z->[0], hosts: ["
                  . join(', ', map { qq("$_") } @{ $z->[1] }) . "] }\n"
                : qq(      - { name: $z->[0], uri: "$z->[1]" }\n);
        }
        $y .= $p->{templates} // ("    template: { domain: $dir/dom.xml, version: "
            . ($p->{version} // 1)
            . ($p->{template_extra} ? ", $p->{template_extra}" : '') . " }\n");
        $y .= "    address: { mode: static, cidr: "
            . ($p->{cidr} // "127.0.1.0/24") . ", port: "
            . ($p->{port} // 8080) . " }\n"
            . "    readiness: " . ($p->{readiness} // 'none') . "\n"
            . "    capacity: { min: $min, max: $max, default: $def }\n"
            . "    drain_timeout: " . ($p->{drain_timeout} // '5s') . "\n"
            . ($p->{extra} // '');
    }
    my $name = $o->{name} // 'scaler';
    $t->write_file("$name.yaml", $y);
    return "$dir/$name.yaml";
}

# a domain of a libvirt test driver node (test:///FILE.xml): NAME, the
# attributes of its scaleset:instance tag ("pool='web' id=... warm='yes'";
# undef: no tag) and more XML in it (<test:runstate>N</test:runstate>:
# 1 running, 3 paused, 5 shut off; <test:hasmanagedsave/>)
sub test_domain {
    my ($name, $tag, $more) = @_;
    my $meta = defined $tag ? "<metadata><scaleset:instance xmlns:scaleset="
        . "'https://scaleset.dev/xmlns/instance/1' $tag/></metadata>" : '';
    return "<domain type='test' xmlns:test='http://libvirt.org/schemas/"
         . "domain/test/1.0'><name>$name</name>$meta<memory>65536</memory>"
         . "<os><type>hvm</type></os>" . ($more // '') . "</domain>\n";
}

# a libvirt test driver node (test:///FILE.xml, per connection) with a
# dir storage pool "images" at DIR/images (or target => a path, XML
# escaped) holding base.qcow2, for pools with template.volume:
# { pool: images, backing: base.qcow2 }; its URI
sub volume_node {
    my ($self, %opt) = @_;
    my $t = $self->{t};
    my $dir = $t->dir;
    my $target = $opt{target} // "$dir/images";
    $t->write_file('node.xml', <<"EOF2");
<node>
  <pool type='dir'>
    <name>images</name>
    <uuid>35bb2ad9-388a-cdfe-461a-b8907f6e53fe</uuid>
    <capacity>100000000000</capacity>
    <allocation>0</allocation>
    <available>100000000000</available>
    <source/>
    <target><path>$target</path></target>
    <volume type='file'>
      <name>base.qcow2</name>
      <capacity unit='MiB'>64</capacity>
      <target><format type='qcow2'/></target>
    </volume>
  </pool>
</node>
EOF2
    return "test://$dir/node.xml";
}

# env => { ... }: more environment (NOTIFY_SOCKET, WATCHDOG_USEC)
sub start {
    my ($self, %opt) = @_;
    my $conf = $self->write_config;
    return $self->{t}->spawn(name => $self->{opt}{name} // 'scaler',
        wait_port => $self->{opt}{api_port} // 'api',
        env => $opt{env} // {},
        cmd => [$self->{opt}{bin} // $self->{t}->bin('scaleset-scaler'),
                '-c', $conf]);
}

# systemd's side of sd_notify: a datagram socket in the test's directory
# for NOTIFY_SOCKET; ->notify_env($usec) the environment that points the
# scaler at it (with WATCHDOG_USEC), ->notices the messages received
# since the last call, each [time received, "WATCHDOG=1"]
sub notify_socket {
    my ($self) = @_;
    require IO::Socket::UNIX;
    require Time::HiRes;
    my $path = $self->{t}->dir . '/notify.sock';
    unlink $path;
    $self->{notify} = IO::Socket::UNIX->new(Type => Socket::SOCK_DGRAM(),
                                            Local => $path)
        or die "notify socket $path: $!";
    $self->{notify}->blocking(0);
    $self->{notify_path} = $path;
    return $path;
}

sub notify_env {
    my ($self, $usec) = @_;
    return { NOTIFY_SOCKET => $self->{notify_path},
             ($usec ? (WATCHDOG_USEC => $usec) : ()) };
}

sub notices {
    my ($self) = @_;
    $self->_drain;
    my @got = @{ $self->{noticed} // [] };
    $self->{noticed} = [];
    return @got;
}

# what came on the notify socket, kept for ->notices: read on every API
# call and member read too, so that a test busy elsewhere never lets the
# socket's queue (net.unix.max_dgram_qlen, 10) fill, which would block
# the scaler's sd_notify() and with it its event loop
sub _drain {
    my ($self) = @_;
    return unless $self->{notify};
    while (defined(my $r = $self->{notify}->recv(my $buf, 4096))) {
        last unless length $buf;
        push @{ $self->{noticed} },
            map { [Time::HiRes::time(), $_] } split /\n/, $buf;
    }
}

# (code, decoded body or raw text)
sub api {
    my ($self, $method, $path, $body, %opt) = @_;
    $self->_drain;
    my ($code, $text) = $self->{t}->http($method,
        $self->{opt}{api_port} // 'api', $path,
        (defined $body ? (body => ref $body ? encode_json($body) : $body)
                       : ()),
        %opt);
    my $data = eval { $self->{json}->decode($text) } // $text;
    return ($code, $data);
}

# tools/guestsim following this scaler's pool web, switches in control
# dir $ctl, extra guestsim arguments after it
sub guestsim {
    my ($self, $ctl, @extra) = @_;
    return $self->guestsim_for('web', $ctl, @extra);
}

# the same for another pool (its server is named guestsim-POOL)
sub guestsim_for {
    my ($self, $pool, $ctl, @extra) = @_;
    my $t = $self->{t};
    return $t->spawn(name => $pool eq 'web' ? 'guestsim' : "guestsim-$pool",
        cmd => [$^X, $t->root . '/tools/guestsim',
        '--api', 'http://127.0.0.1:' . $t->port('api'), '--pool', $pool,
        '--control', $ctl, '--interval', '0.1', @extra],
        wait => sub { 1 });
}

sub members {
    my ($self, $pool) = @_;
    $self->_drain;
    return { $self->{t}->redis->hgetall("scaleset:{$pool}:members") };
}

1;
