//! Privileges, roles and ACLs, resolved exactly the way PVE resolves them: for each path
//! component from `/` down, entries for the token (or user) replace what was inherited;
//! entries on an ancestor count only when they propagate; `NoAccess` wins.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::layout::{AclEntry, Subject};

/// Every privilege PVE knows (custom roles may use any of them).
pub const PRIVILEGES: &[&str] = &[
    "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
    "Group.Allocate", "Mapping.Audit", "Mapping.Modify", "Mapping.Use", "Permissions.Modify",
    "Pool.Allocate", "Pool.Audit", "Realm.Allocate", "Realm.AllocateUser", "SDN.Allocate", "SDN.Audit",
    "SDN.Use", "Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify",
    "Sys.PowerMgmt", "Sys.Syslog", "User.Modify", "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone",
    "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType",
    "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options", "VM.Console", "VM.Migrate", "VM.Monitor",
    "VM.PowerMgmt", "VM.Snapshot", "VM.Snapshot.Rollback",
];

/// The names of the built-in roles.
pub const BUILTIN_ROLES: &[&str] = &["Administrator", "NoAccess", "PVEAuditor", "PVESDNAdmin", "PVESDNUser"];

/// The built-in roles and their privileges (`Administrator`: all of them).
pub fn builtin_role(name: &str) -> Option<BTreeSet<String>> {
    let privs: Vec<&str> = match name {
        "Administrator" => PRIVILEGES.to_vec(),
        "NoAccess" => Vec::new(),
        "PVEAuditor" => PRIVILEGES.iter().copied().filter(|p| p.ends_with(".Audit")).collect(),
        "PVESDNAdmin" => vec!["SDN.Allocate", "SDN.Audit"],
        "PVESDNUser" => vec!["SDN.Audit", "SDN.Use"],
        _ => return None,
    };
    Some(privs.into_iter().map(str::to_string).collect())
}


/// Checks an ACL path the way PVE does: `/` or slash-separated names under a known root.
pub fn check_path(path: &str) -> Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    let parts: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let name_ok = |s: &str| {
        !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let shape_ok = match parts.as_slice() {
        ["sdn"] | ["access"] | ["nodes"] | ["vms"] | ["storage"] | ["pool"] | ["mapping"] => true,
        ["sdn", "zones" | "controllers" | "ipams" | "dns" | "fabrics"] => true,
        ["sdn", "zones", _] | ["sdn", "zones", _, _] | ["sdn", "zones", _, _, _] => true,
        ["sdn", "controllers" | "ipams" | "dns" | "fabrics", _] => true,
        ["nodes" | "vms" | "storage" | "pool", _] => true,
        ["access", "groups" | "realm", ..] => parts.len() <= 3,
        _ => false,
    };
    if path.starts_with('/') && shape_ok && parts.iter().all(|p| name_ok(p)) {
        Ok(())
    } else {
        Err(format!("invalid ACL path '{path}' (e.g. /, /sdn, /sdn/zones/ZONE, /sdn/zones/ZONE/VNET, /nodes/NODE)"))
    }
}

/// The ACLs and custom roles of a cluster, as needed to resolve privileges.
#[derive(Debug, Clone, Default)]
pub struct AclTree {
    /// path -> subject -> role -> propagate
    entries: BTreeMap<String, BTreeMap<Subject, BTreeMap<String, bool>>>,
    custom_roles: BTreeMap<String, BTreeSet<String>>,
}

impl AclTree {
    pub fn new(entries: impl IntoIterator<Item = AclEntry>, custom_roles: BTreeMap<String, BTreeSet<String>>) -> Self {
        let mut tree = AclTree { entries: BTreeMap::new(), custom_roles };
        for entry in entries {
            tree.entries.entry(entry.path).or_default().insert(entry.subject, entry.roles);
        }
        tree
    }

    fn role_privileges(&self, role: &str) -> BTreeSet<String> {
        builtin_role(role).or_else(|| self.custom_roles.get(role).cloned()).unwrap_or_default()
    }

    /// The roles `subject` has on `path` (PVE's `roles()`; no superuser shortcut here).
    pub fn roles(&self, subject: &Subject, path: &str) -> BTreeSet<String> {
        let mut roles: BTreeMap<String, bool> = BTreeMap::new();
        let components: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut current = String::new();
        for depth in 0..=components.len() {
            let at = if depth == 0 { "/".to_string() } else {
                current.push('/');
                current.push_str(components[depth - 1]);
                current.clone()
            };
            let is_final = depth == components.len();
            let Some(granted) = self.entries.get(&at).and_then(|by_subject| by_subject.get(subject)) else { continue };
            let applicable: BTreeMap<String, bool> =
                granted.iter().filter(|(_, propagate)| is_final || **propagate).map(|(r, p)| (r.clone(), *p)).collect();
            if !applicable.is_empty() {
                roles = applicable;
            }
        }
        if roles.contains_key("NoAccess") {
            return BTreeSet::from(["NoAccess".to_string()]);
        }
        roles.into_keys().collect()
    }

    /// The privileges `subject` has on `path`.
    pub fn privileges(&self, subject: &Subject, path: &str) -> BTreeSet<String> {
        self.roles(subject, path).iter().flat_map(|role| self.role_privileges(role)).collect()
    }

    /// Every path an ACL entry for one of `subjects` is on.
    pub fn paths_of<'a>(&'a self, subjects: &'a [Subject]) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(|(_, by_subject)| subjects.iter().any(|s| by_subject.contains_key(s)))
            .map(|(path, _)| path.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, user: &str, role: &str, propagate: bool) -> AclEntry {
        AclEntry { path: path.into(), subject: Subject::User(user.into()), roles: BTreeMap::from([(role.into(), propagate)]) }
    }

    #[test]
    fn deeper_entries_override_and_propagation_is_respected() {
        let tree = AclTree::new(
            [
                entry("/", "a@pve", "PVEAuditor", true),
                entry("/sdn/zones/z1", "a@pve", "PVESDNAdmin", true),
                entry("/sdn/zones/z2", "a@pve", "PVESDNAdmin", false),
                entry("/sdn/zones/z3", "a@pve", "NoAccess", true),
            ],
            BTreeMap::new(),
        );
        let a = Subject::User("a@pve".into());
        assert!(tree.privileges(&a, "/sdn").contains("SDN.Audit"));
        assert!(!tree.privileges(&a, "/sdn").contains("SDN.Allocate"));
        assert!(tree.privileges(&a, "/sdn/zones/z1/v1").contains("SDN.Allocate"));
        assert!(tree.privileges(&a, "/sdn/zones/z2").contains("SDN.Allocate"));
        // z2's entry does not propagate: below it, the inherited auditor role applies.
        let below = tree.privileges(&a, "/sdn/zones/z2/v1");
        assert!(below.contains("SDN.Audit") && !below.contains("SDN.Allocate"));
        assert!(tree.privileges(&a, "/sdn/zones/z3/v1").is_empty());
        assert!(tree.privileges(&Subject::User("b@pve".into()), "/sdn").is_empty());
    }

    #[test]
    fn custom_roles_resolve() {
        let roles = BTreeMap::from([("NetOps".to_string(), BTreeSet::from(["SDN.Audit".to_string()]))]);
        let tree = AclTree::new([entry("/sdn", "a@pve", "NetOps", true)], roles);
        assert_eq!(tree.privileges(&Subject::User("a@pve".into()), "/sdn/zones/z"), BTreeSet::from(["SDN.Audit".to_string()]));
    }

    #[test]
    fn paths_are_checked() {
        for ok in ["/", "/sdn", "/sdn/zones/z1", "/sdn/zones/z1/v1", "/nodes/n1", "/sdn/controllers/c-1"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "sdn", "/sdn/", "/nosuch", "/sdn/zones/a b", "/sdn/zones/z/v/1/2"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
