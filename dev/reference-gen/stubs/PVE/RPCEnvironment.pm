package PVE::RPCEnvironment;
# Dev-harness stub (pve-access-control): only API code uses it.
use strict;
use warnings;
sub get { die "PVE::RPCEnvironment stub\n"; }
1;
