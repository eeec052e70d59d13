#!/usr/bin/perl
# Runs the reference generator (pve-network) on one case in the corpus layout and writes what it
# generates:  run.pl CASE_DIR OUT_DIR
#
# The mocks are those of pve-network's own test harness (src/test/run_test_zones.pl), fed from the
# case's facts.json instead of fixed values: node name, route towards peers, bridge ports and the
# MAC come from the facts; whether a bridge is vlan-aware or OVS comes from the case's interfaces
# file (the harness always asked about vmbr0; here each bridge answers for itself), and a bridge
# exists when the interfaces file or the facts' bridge ports name it.
# OUT_DIR/sdn is always written; OUT_DIR/frr.conf when the config has a controllers section (as
# the harness does). If the reference dies, OUT_DIR/error holds its message and the exit status is 2.
use strict;
use warnings;

use File::Slurp;
use JSON;
use Test::MockModule;

use PVE::INotify;
use PVE::Network::SDN;
use PVE::Network::SDN::Zones;
use PVE::Network::SDN::Controllers;
use PVE::Network::SDN::Frr;

my ($case, $out) = @ARGV;
die "usage: $0 CASE_DIR OUT_DIR\n" if !defined($out);
mkdir $out if !-d $out;

my $sdn_config = decode_json(read_file("$case/running-config.json"));
# Node lists written as comma strings (a form sdn-gen accepts, see the corpus README) reach the
# reference's plugins as hashes, as its section-config parser turns them into; do that here.
for my $zone (values %{ ($sdn_config->{zones} // {})->{ids} // {} }) {
    for my $key ('nodes', 'exitnodes') {
        my $v = $zone->{$key};
        next if !defined($v) || ref($v);
        $zone->{$key} = { map { $_ => 1 } grep { length } split(/[,;\s]+/, $v) };
    }
}
my $facts = decode_json(read_file("$case/facts.json"));

open(my $fh, '<', "$case/interfaces") or die "can't read interfaces file - $!";
my $interfaces_config = PVE::INotify::__read_etc_network_interfaces($fh, undef, undef);
close $fh;

# Decided before any mock below looks into (and so autovivifies) the controllers section.
# frr.conf is written when the node has FRR configuration at all, as the reference's
# running_config_has_frr decides: a controllers section, fabrics, or an frr.conf.local.
my $has_frr = defined($sdn_config->{controllers})
    || %{ ($sdn_config->{fabrics} // {})->{ids} // {} }
    || -e "$case/frr.conf.local";

my $node = $facts->{node};
my $bridge_ports = $facts->{'bridge-ports'} // {};

my $inotify = Test::MockModule->new('PVE::INotify');
$inotify->mock(
    nodename => sub { return $node; },
    read_file => sub { return $interfaces_config; },
    read_etc_network_interfaces => sub { return $interfaces_config; },
);

my $network = Test::MockModule->new('PVE::Network');
$network->mock(
    is_ovs_bridge => sub {
        my ($bridge) = @_;
        my $type = $interfaces_config->{ifaces}->{$bridge}->{type} // '';
        return 1 if $type eq 'OVSBridge';
        return;
    },
    # altnames come from `ip link`; the generator's facts have none.
    altname_mapping => sub { return {}; },
);

my $controllers = Test::MockModule->new('PVE::Network::SDN::Controllers');
$controllers->mock(read_etc_network_interfaces => sub { return $interfaces_config; });

my $subnets = Test::MockModule->new('PVE::Network::SDN::Subnets');
$subnets->mock(config => sub { return $sdn_config->{subnets}; });

my $zones_plugin = Test::MockModule->new('PVE::Network::SDN::Zones::Plugin');
$zones_plugin->mock(
    get_local_route_ip => sub { return ($facts->{'route-ip'}, $facts->{'route-iface'}); },
    is_vlanaware => sub {
        my ($bridge) = @_;
        return $interfaces_config->{ifaces}->{$bridge}->{'bridge_vlan_aware'};
    },
    get_bridge_ifaces => sub {
        my ($bridge) = @_;
        return @{ $bridge_ports->{$bridge} // [] };
    },
    # The real check is -d /sys/class/net/$bridge: a bridge the node has (in its interfaces
    # file or its facts' bridge ports). The original harness never died here.
    find_bridge => sub {
        my ($bridge) = @_;
        die "can't find bridge $bridge"
            if !$interfaces_config->{ifaces}->{$bridge} && !$bridge_ports->{$bridge};
        return;
    },
);

my $sdn = Test::MockModule->new('PVE::Network::SDN');
$sdn->mock(running_config => sub { return $sdn_config; });

my $controllers_plugin = Test::MockModule->new('PVE::Network::SDN::Controllers::Plugin');
$controllers_plugin->mock(read_iface_mac => sub { return $facts->{mac}; });

my @plugin_mocks;
for my $id (sort keys %{ $sdn_config->{controllers}->{ids} // {} }) {
    my $type = $sdn_config->{controllers}->{ids}->{$id}->{type};
    my $plugin = PVE::Network::SDN::Controllers::Plugin->lookup($type);
    my $m = Test::MockModule->new($plugin);
    $m->mock(write_controller_config => sub { return; }, reload_controller => sub { return; });
    push @plugin_mocks, $m;
}

my $frr_local = -e "$case/frr.conf.local" ? read_file("$case/frr.conf.local") : undef;
my $frr = Test::MockModule->new('PVE::Network::SDN::Frr');
$frr->mock(read_local_frr_config => sub { return $frr_local; });

my $failed = 0;
sub fail_with {
    my ($what, $err) = @_;
    write_file("$out/error", { append => 1 }, "$what: $err");
    $failed = 1;
}

my $sdn_text = eval { PVE::Network::SDN::generate_raw_etc_network_config($sdn_config) };
if (my $err = $@) {
    fail_with('sdn', $err);
} else {
    write_file("$out/sdn", $sdn_text // '');
}

if ($has_frr) {
    my $text = eval {
        my $raw = PVE::Network::SDN::generate_frr_raw_config();
        PVE::Network::SDN::Frr::raw_config_to_string($raw);
    };
    if (my $err = $@) {
        fail_with('frr.conf', $err);
    } else {
        write_file("$out/frr.conf", $text);
    }
}

exit($failed ? 2 : 0);
