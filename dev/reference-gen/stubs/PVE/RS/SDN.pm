package PVE::RS::SDN;
# Dev-harness stand-in for proxmox-perl-rs' PVE::RS::SDN: forwards to pve-rs-shim, which runs
# the same proxmox-frr / proxmox-ve-config code.
use strict;
use warnings;
use PVE::RS::SDN::Fabrics;

sub get_frr_raw_config {
    my ($frr_config, $fabric_config, $node_id) = @_;
    return PVE::RS::SDN::Fabrics::call_shim(
        'get_frr_raw_config',
        { fabrics => $fabric_config->{fabrics}, frr => $frr_config, args => [$node_id] },
    );
}
1;
