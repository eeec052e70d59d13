//! The kinds of SDN objects and the names the API and the files use for them.

use std::fmt;

/// One kind of SDN object; each kind has its own section-config file and API collection.
/// Fabrics hold both fabrics (`openfabric_fabric: ID`) and their nodes
/// (`openfabric_node: FABRIC_NODE`), as PVE 9's `fabrics.cfg` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Zones,
    Vnets,
    Subnets,
    Controllers,
    Ipams,
    Dns,
    Fabrics,
    /// Route map entries (`route-map-entry: MAP_ORDER`, PVE 9.1's `route-maps.cfg`).
    RouteMaps,
    /// Prefix lists (`prefix-list: ID`, PVE 9.1's `prefix-lists.cfg`).
    PrefixLists,
}

impl Kind {
    /// Every kind, in the order the running config and the pending checks visit them.
    pub const ALL: [Kind; 9] = [
        Kind::Zones,
        Kind::Vnets,
        Kind::Subnets,
        Kind::Controllers,
        Kind::Ipams,
        Kind::Dns,
        Kind::Fabrics,
        Kind::RouteMaps,
        Kind::PrefixLists,
    ];

    /// The API parameter carrying an object's id (`zone`, `vnet`, ...).
    pub fn id_param(self) -> &'static str {
        match self {
            Kind::Zones => "zone",
            Kind::Vnets => "vnet",
            Kind::Subnets => "subnet",
            Kind::Controllers => "controller",
            Kind::Ipams => "ipam",
            Kind::Dns => "dns",
            Kind::Fabrics => "id",
            Kind::RouteMaps => "route-map-id",
            Kind::PrefixLists => "id",
        }
    }

    /// The collection's last path segment under `/cluster/sdn` (and its key in the running config).
    pub fn path_segment(self) -> &'static str {
        match self {
            Kind::Zones => "zones",
            Kind::Vnets => "vnets",
            Kind::Subnets => "subnets",
            Kind::Controllers => "controllers",
            Kind::Ipams => "ipams",
            Kind::Dns => "dns",
            Kind::Fabrics => "fabrics",
            Kind::RouteMaps => "route-maps",
            Kind::PrefixLists => "prefix-lists",
        }
    }

    /// The section-config file under `/etc/pve/sdn`.
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Zones => "zones.cfg",
            Kind::Vnets => "vnets.cfg",
            Kind::Subnets => "subnets.cfg",
            Kind::Controllers => "controllers.cfg",
            Kind::Ipams => "ipams.cfg",
            Kind::Dns => "dns.cfg",
            Kind::Fabrics => "fabrics.cfg",
            Kind::RouteMaps => "route-maps.cfg",
            Kind::PrefixLists => "prefix-lists.cfg",
        }
    }

    /// Whether apply copies this kind into the running config (IPAMs and DNS take effect at once).
    pub fn in_running_config(self) -> bool {
        matches!(
            self,
            Kind::Zones
                | Kind::Vnets
                | Kind::Subnets
                | Kind::Controllers
                | Kind::Fabrics
                | Kind::RouteMaps
                | Kind::PrefixLists
        )
    }

    /// The inverse of [`Kind::path_segment`].
    pub fn from_path_segment(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.path_segment() == s)
    }

    /// Singular noun for messages ("sdn zone 'x' does not exist").
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Fabrics => "fabric",
            Kind::RouteMaps => "route map entry",
            Kind::PrefixLists => "prefix list",
            other => other.id_param(),
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path_segment())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_path_segment(k.path_segment()), Some(k));
            assert!(k.file_name().starts_with(k.path_segment()));
            assert_eq!(Kind::ALL[k.index()], k);
        }
        assert_eq!(Kind::from_path_segment("fabrics"), Some(Kind::Fabrics));
        assert_eq!(Kind::from_path_segment("fabric"), None);
        assert_eq!(Kind::Fabrics.file_name(), "fabrics.cfg");
        assert!(Kind::Fabrics.in_running_config());
        assert_eq!(Kind::Dns.file_name(), "dns.cfg");
        assert_eq!(Kind::Subnets.id_param(), "subnet");
        assert!(Kind::Controllers.in_running_config());
        assert!(!Kind::Ipams.in_running_config());
    }
}
