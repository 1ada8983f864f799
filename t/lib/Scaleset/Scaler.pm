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

sub new {
    my ($class, $t, %opt) = @_;
    my $self = bless { t => $t, opt => \%opt, json => JSON::PP->new }, $class;
    $t->write_file('dom.xml', $TEMPLATE);
    return $self;
}

# pools => [ { name, zones => [[z1, uri], ...], capacity => [min,max,def],
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
        $y .= qq(      - { name: $_->[0], uri: "$_->[1]" }\n)
            for @{ $p->{zones} // [['z1', 'test:///default']] };
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

sub start {
    my ($self) = @_;
    my $conf = $self->write_config;
    return $self->{t}->spawn(name => $self->{opt}{name} // 'scaler',
        wait_port => $self->{opt}{api_port} // 'api',
        cmd => [$self->{opt}{bin} // $self->{t}->bin('scaleset-scaler'),
                '-c', $conf]);
}

# (code, decoded body or raw text)
sub api {
    my ($self, $method, $path, $body, %opt) = @_;
    my ($code, $text) = $self->{t}->http($method,
        $self->{opt}{api_port} // 'api', $path,
        (defined $body ? (body => ref $body ? encode_json($body) : $body)
                       : ()),
        %opt);
    my $data = eval { $self->{json}->decode($text) } // $text;
    return ($code, $data);
}

# tools/guestsim following this scaler's pool (default web), switches in
# control dir $ctl, extra guestsim arguments after it
sub guestsim {
    my ($self, $ctl, @extra) = @_;
    my $t = $self->{t};
    return $t->spawn(name => 'guestsim', cmd => [$^X, $t->root . '/tools/guestsim',
        '--api', 'http://127.0.0.1:' . $t->port('api'), '--pool', 'web',
        '--control', $ctl, '--interval', '0.1', @extra],
        wait => sub { 1 });
}

sub members {
    my ($self, $pool) = @_;
    return { $self->{t}->redis->hgetall("scaleset:{$pool}:members") };
}

1;
