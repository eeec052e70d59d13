package PVE::Cluster;
# Dev-harness stub: the reference registers its config files with the cluster filesystem at
# load time; generation itself reads nothing from it (run.pl mocks running_config).
use strict;
use warnings;
use base 'Exporter';
our @EXPORT_OK = qw(cfs_register_file cfs_read_file cfs_write_file cfs_lock_file);
sub cfs_register_file { return; }
sub cfs_read_file { die "PVE::Cluster stub: cfs_read_file($_[0]) is not available in the harness\n"; }
sub cfs_write_file { die "PVE::Cluster stub: cfs_write_file is not available in the harness\n"; }
sub cfs_lock_file { my ($f, $t, $code, @p) = @_; return $code->(@p); }
sub cfs_lock_domain { my ($d, $t, $code, @p) = @_; return $code->(@p); }
sub check_cfs_quorum { return 1; }
sub get_nodelist { return []; }
sub get_local_migration_ip { return; }
1;
