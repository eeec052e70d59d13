#!/usr/bin/perl
# Converts one case of pve-network's generator tests (src/test/zones/<type>/<case>/, the
# reference's own fixtures) into the layout of ../shared/corpus/pve-zones, so that sdn-gen's
# corpus test can run it:  convert-reference-case.pl SRC_DIR DEST_DIR
#
# The facts are the ones pve-network's test harness (src/test/run_test_zones.pl) mocks:
# node "localhost", peers reached through vmbr0 (its address, if any, is the route ip),
# bridge ports "eth0", MAC bc:24:11:1d:69:60.
use strict;
use warnings;
use JSON::PP;
use File::Copy;
use File::Path qw(make_path);

my ($src, $dest) = @ARGV;
die "usage: $0 SRC_DIR DEST_DIR\n" if !defined $dest;

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "reading $path: $!\n";
    local $/;
    return scalar <$fh>;
}

my $config = eval slurp("$src/sdn_config");
die "evaluating $src/sdn_config: $@\n" if $@ || ref($config) ne 'HASH';

# vmbr0's address in the node's interfaces file, without its prefix length.
my $route_ip;
my $iface;
for my $line (split /\n/, slurp("$src/interfaces")) {
    $iface = $1 if $line =~ /^\s*iface\s+(\S+)/;
    if (defined $iface && $iface eq 'vmbr0' && $line =~ /^\s*address\s+([^\s\/]+)/) {
        $route_ip //= $1;
    }
}

my $facts = {
    node => 'localhost',
    'route-iface' => 'vmbr0',
    'route-ip' => $route_ip,
    mac => 'bc:24:11:1d:69:60',
    'bridge-ports' => { vmbr0 => ['eth0'] },
};

make_path("$dest/expected");
my $json = JSON::PP->new->pretty->canonical;
open(my $out, '>', "$dest/running-config.json") or die $!;
print $out $json->encode($config);
close $out;
open($out, '>', "$dest/facts.json") or die $!;
print $out $json->encode($facts);
close $out;

copy("$src/interfaces", "$dest/interfaces") or die "copying interfaces: $!\n";
copy("$src/frr.conf.local", "$dest/frr.conf.local") or die $! if -e "$src/frr.conf.local";
copy("$src/expected_sdn_interfaces", "$dest/expected/sdn") or die "copying expected: $!\n";
if (-e "$src/expected_controller_config") {
    copy("$src/expected_controller_config", "$dest/expected/frr.conf") or die $!;
}
