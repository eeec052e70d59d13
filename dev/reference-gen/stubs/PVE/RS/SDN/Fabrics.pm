package PVE::RS::SDN::Fabrics;
# Dev-harness stand-in for proxmox-perl-rs' PVE::RS::SDN::Fabrics: the config object keeps the
# running config's fabric sections; each method runs pve-rs-shim on them.
use strict;
use warnings;
use JSON;
use File::Temp qw(tempfile);

my $SHIM = $ENV{PVE_RS_SHIM} // die "PVE_RS_SHIM is not set\n";

sub call_shim {
    my ($method, $request) = @_;
    my $json = JSON->new->canonical->allow_nonref;
    my ($fh, $in) = tempfile(UNLINK => 1);
    print $fh $json->encode($request);
    close $fh;
    my $out = `'$SHIM' '$method' < '$in' 2>&1`;
    die "$out" if $? != 0;
    return $json->decode($out);
}

sub running_config {
    my ($class, $fabrics) = @_;
    return bless { fabrics => $fabrics // {} }, $class;
}

sub config {
    die "PVE::RS::SDN::Fabrics stub: config() from fabrics.cfg is not available in the harness\n";
}

sub get_interfaces_etc_network_config {
    my ($self, $node) = @_;
    return call_shim('get_interfaces_etc_network_config', { fabrics => $self->{fabrics}, args => [$node] });
}

sub get_fabric {
    my ($self, $id) = @_;
    return call_shim('get_fabric', { fabrics => $self->{fabrics}, args => [$id] });
}

sub list_nodes_fabric {
    my ($self, $id) = @_;
    return call_shim('list_nodes_fabric', { fabrics => $self->{fabrics}, args => [$id] });
}

sub get_node {
    my ($self, $id, $node) = @_;
    return call_shim('get_node', { fabrics => $self->{fabrics}, args => [$id, $node] });
}

sub status { return {}; }
1;
