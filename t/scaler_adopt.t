#!/usr/bin/perl
# scaler: adoption.  A test:///FILE.xml node holds two domains tagged as
# ours (pool web), one tagged for another pool and one untagged domain.
# The scaler adopts and registers ours, keeps their ids and addresses,
# continues the numbering, and never touches the others, even scaling
# to zero.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scaleset::Test;
use Scaleset::Scaler;

my $t = Scaleset::Test->new(need => [qw(redis scaler)]);
$t->start_redis;
my $dir = $t->dir;

sub dom {
    my ($name, $md) = @_;
    my $meta = $md ? "<metadata><scaleset:instance "
        . "xmlns:scaleset='https://scaleset.dev/xmlns/instance/1' $md/>"
        . "</metadata>" : '';
    return "<domain type='test'><name>$name</name>$meta"
         . "<memory>65536</memory><os><type>hvm</type></os></domain>\n";
}
$t->write_file('node.xml', "<node>\n"
    . dom('web-000007', "pool='web' id='web-000007' zone='z1' version='1' "
          . "address='127.0.1.7:8080'")
    . dom('web-000009', "pool='web' id='web-000009' zone='z1' version='1' "
          . "address='127.0.1.1:8080'")
    . dom('api-000001', "pool='api' id='api-000001' zone='z1' version='1' "
          . "address='127.0.1.2:8080'")
    . dom('handmade', undef)
    . "</node>\n");

my $s = Scaleset::Scaler->new($t, pools => [ { name => 'web',
    zones => [['z1', "test://$dir/node.xml"]], capacity => [0, 10, 3] } ]);
$s->start;
$t->wait_for(sub { keys %{ $s->members('web') } == 3 }, timeout => 10,
             what => '3 members');
my $m = $s->members('web');
like($m->{'web-000007'}, qr/^127\.0\.1\.7:8080 zone=z1/, 'adopted 7');
like($m->{'web-000009'}, qr/^127\.0\.1\.1:8080 zone=z1/, 'adopted 9');
my ($new) = grep { !/0007|0009/ } keys %$m;
is($new, 'web-000010', 'the new instance continues the numbering');
unlike($m->{$new}, qr/^127\.0\.1\.1:8080 /,
       'new instance does not reuse an adopted address');
like($t->log('scaler'), qr/id=web-000007 found domain/, 'adoption logged');

my ($code) = $s->api('PUT', '/v1/pools/web/capacity', { capacity => 0 });
is($code, 200, 'scale to 0');
$t->wait_for(sub { keys %{ $s->members('web') } == 0 }, timeout => 10,
             what => 'no members');
my (undef, $p) = $s->api('GET', '/v1/pools/web');
is($p->{instances}, 0, 'all of ours deleted');
unlike($t->log('scaler'), qr/handmade|api-000001/,
       'untagged and foreign domains never touched');

$t->done;
