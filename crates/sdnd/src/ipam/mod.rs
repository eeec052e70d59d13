//! The PVE IPAM, kept in sdnd's store: subnets registered when they are created (with their
//! gateway), addresses added, allocated from a subnet's DHCP ranges, changed and released, as
//! the reference's `Ipams/PVEPlugin.pm` does with its state file, but every change one guarded
//! transaction: two allocations racing for the last free address never both get it, and an
//! acknowledged allocation is durable.
//!
//! Where an address lives (its subnet, zone and vnet) is the caller's to find out from the
//! configuration; this module only keeps the state. [`state`] is the pure part: the state
//! file's format and the address arithmetic.

pub mod external;
pub mod http;
pub mod netbox;
pub mod phpipam;
pub mod pin;
pub mod state;
pub mod verify;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use sdn_config::{Change, Cidr, Config, DhcpRange, Kind, SdnObject};
use sdn_store::{Commit, Entry, Guard, Op, Store, Txn};

use crate::error::Error;
use crate::layout::{self, IpRecord, IpamSubnetRecord};
use state::{IpamDb, MacRecord};

/// How often a change is retried when another writer changed the subnet in between.
const MAX_ATTEMPTS: usize = 200;
/// How many addresses one store read probes while looking for a free one.
const PROBE_BATCH: usize = 64;
/// The most addresses one allocation probes before it gives up (a huge range full of
/// addresses added by hand): the request stays bounded in time.
const MAX_PROBES: usize = 1 << 16;

/// A subnet as the IPAM knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetRef {
    pub zone: String,
    pub cidr: Cidr,
}

impl SubnetRef {
    pub fn of(subnet: &SdnObject) -> Option<SubnetRef> {
        let id = subnet.subnet_id()?;
        Some(SubnetRef { zone: id.zone, cidr: id.cidr.network() })
    }
}

/// One address of the IPAM, as `GET /cluster/sdn/ipams/{ipam}/status` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub zone: String,
    pub cidr: Cidr,
    pub ip: IpAddr,
    pub record: IpRecord,
}

/// What an allocation is for.
#[derive(Debug, Clone, Default)]
pub struct Owner {
    pub mac: String,
    /// The hostname as given (the guest's name), before any `dnszoneprefix`.
    pub hostname: Option<String>,
    pub vmid: Option<String>,
    /// The `dnszoneprefix` of the subnets that have one, by their prefix: the IPAM keeps the
    /// hostname with its subnet's appended, as the reference's `Subnets.pm` hands it over.
    pub dnszoneprefixes: Vec<(Cidr, String)>,
}

impl Owner {
    /// The hostname as the IPAM keeps it for an address of the subnet `cidr`.
    pub fn hostname_in(&self, cidr: &Cidr) -> Option<String> {
        let prefix = self.dnszoneprefixes.iter().find(|(c, _)| c.network() == cidr.network()).map(|(_, p)| p.as_str());
        self.hostname.as_deref().map(|h| crate::dns::with_prefix(h, prefix))
    }
}

pub struct Ipam {
    store: Arc<dyn Store>,
    /// Serializes this process's writers, so that they queue instead of failing guards.
    writer: Mutex<()>,
    /// The range cursors this process last wrote, by key: an allocation reads the addresses
    /// after it together with everything else it needs, in one round trip to the store.
    cursors: Mutex<BTreeMap<String, IpAddr>>,
    /// What this process's last allocation in a subnet left behind, by the subnet's key: the
    /// next allocation there commits at once, guarded on nothing having changed since.
    fast: Mutex<BTreeMap<String, FastPath>>,
}

/// The state after an allocation: the subnet's record as written and at which revision, and
/// the range cursor it left.
#[derive(Debug, Clone)]
struct FastPath {
    revision: sdn_store::Revision,
    record: IpamSubnetRecord,
    cursor_key: String,
    next: IpAddr,
}

/// Entries an allocation read ahead in one round trip, by key.
#[derive(Default)]
struct Prefetch(BTreeMap<String, Option<Entry>>);

impl Prefetch {
    fn get(&self, store: &dyn Store, key: &str) -> Result<Option<Entry>, Error> {
        match self.0.get(key) {
            Some(entry) => Ok(entry.clone()),
            None => Ok(store.get(key)?),
        }
    }

    fn get_many(&self, store: &dyn Store, keys: &[String]) -> Result<Vec<Option<Entry>>, Error> {
        if keys.iter().all(|k| self.0.contains_key(k)) {
            return Ok(keys.iter().map(|k| self.0[k].clone()).collect());
        }
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        Ok(store.get_many(&refs)?)
    }
}

/// The entries a planned change read, with their revisions, and what it will write.
#[derive(Default)]
struct Plan {
    guards: Vec<Guard>,
    ops: Vec<Op>,
    /// Subnets whose record is rewritten (bumped) by this change, by key.
    bumped: BTreeMap<String, IpamSubnetRecord>,
}

impl Plan {
    fn guard(&mut self, key: &str, entry: Option<&Entry>) {
        self.guards.push(Guard::ModRevision { key: key.to_string(), revision: entry.map_or(0, |e| e.mod_revision) });
    }

    /// Guards on the subnet's record and rewrites it, so that every other change of the subnet
    /// made since it was read fails this one's guard (and the other way round).
    fn touch_subnet(&mut self, key: &str, entry: &Entry, record: IpamSubnetRecord) {
        if self.bumped.contains_key(key) {
            return;
        }
        self.guard(key, Some(entry));
        self.bumped.insert(key.to_string(), record);
    }

    fn into_parts(mut self) -> Result<(Vec<Guard>, Vec<Op>), Error> {
        for (key, mut record) in std::mem::take(&mut self.bumped) {
            record.changes += 1;
            self.ops.push(Op::Put { key, value: to_json(&record)? });
        }
        Ok((self.guards, self.ops))
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|err| Error::Internal(err.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(entry: &Entry) -> Result<T, Error> {
    serde_json::from_slice(&entry.value)
        .map_err(|err| Error::Internal(format!("the IPAM entry '{}' is unreadable: {err}", entry.key)))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Ipam {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Ipam { store, writer: Mutex::new(()), cursors: Mutex::new(BTreeMap::new()), fast: Mutex::new(BTreeMap::new()) }
    }

    /// Commits the transaction `plan` builds, re-planning when a guard fails.
    fn commit<T>(&self, plan: impl FnMut() -> Result<(Plan, T), Error>) -> Result<T, Error> {
        let _writer = lock(&self.writer);
        Ok(self.commit_locked(plan)?.0)
    }

    /// [`Ipam::commit`] for a caller holding the writer lock; also answers the revision.
    fn commit_locked<T>(&self, mut plan: impl FnMut() -> Result<(Plan, T), Error>) -> Result<(T, sdn_store::Revision), Error> {
        for attempt in 0..MAX_ATTEMPTS {
            let (plan, result) = plan()?;
            let (guards, ops) = plan.into_parts()?;
            match self.store.commit(Txn { guards, ops })? {
                Commit::Committed(revision) => return Ok((result, revision)),
                // Another process changed the subnet: let it finish before trying again.
                Commit::GuardFailed => std::thread::sleep(std::time::Duration::from_micros(200 * (attempt as u64 % 10 + 1))),
            }
        }
        Err(Error::Conflict("the IPAM kept changing concurrently; nothing was written, please retry".into()))
    }

    /// The subnet's record, or why the address can't be managed in it.
    fn subnet_entry(&self, subnet: &SubnetRef) -> Result<(String, Entry, IpamSubnetRecord), Error> {
        self.subnet_entry_from(&Prefetch::default(), subnet)
    }

    fn subnet_entry_from(&self, prefetch: &Prefetch, subnet: &SubnetRef) -> Result<(String, Entry, IpamSubnetRecord), Error> {
        let key = layout::ipam_subnet(&subnet.zone, &subnet.cidr);
        let entry = prefetch.get(self.store.as_ref(), &key)?.ok_or_else(|| {
            Error::Conflict(format!("subnet '{}' doesn't exist in IPAM DB (zone '{}')", subnet.cidr, subnet.zone))
        })?;
        let record = from_json(&entry)?;
        Ok((key, entry, record))
    }

    /// Every address of the IPAM.
    pub fn allocations(&self) -> Result<Vec<Allocation>, Error> {
        let (entries, _) = self.store.list(layout::IPAM_IPS_PREFIX)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let rest = &entry.key[layout::IPAM_IPS_PREFIX.len()..];
            let mut parts = rest.splitn(3, '/');
            let (Some(zone), Some(subnet), Some(ip)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(Error::Internal(format!("unexpected IPAM entry '{}'", entry.key)));
            };
            let cidr = subnet
                .rsplit_once('-')
                .and_then(|(addr, len)| format!("{addr}/{len}").parse::<Cidr>().ok())
                .ok_or_else(|| Error::Internal(format!("unexpected IPAM entry '{}'", entry.key)))?;
            let ip = ip.parse().map_err(|_| Error::Internal(format!("unexpected IPAM entry '{}'", entry.key)))?;
            out.push(Allocation { zone: zone.to_string(), cidr, ip, record: from_json(&entry)? });
        }
        Ok(out)
    }

    /// The whole state as the reference's state file has it.
    pub fn export(&self) -> Result<IpamDb, Error> {
        let (subnets, _) = self.store.list(layout::IPAM_SUBNETS_PREFIX)?;
        let mut db = IpamDb::default();
        for entry in subnets {
            let record: IpamSubnetRecord = from_json(&entry)?;
            db.zones.entry(record.zone).or_default().entry(record.cidr).or_default();
        }
        for allocation in self.allocations()? {
            db.zones
                .entry(allocation.zone)
                .or_default()
                .entry(allocation.cidr.to_string())
                .or_default()
                .insert(allocation.ip.to_string(), allocation.record);
        }
        Ok(db)
    }

    /// The writes that replace the whole state with `db` (for an import's transaction).
    pub fn import_ops(db: &IpamDb) -> Result<Vec<Op>, Error> {
        let mut ops = vec![Op::DeletePrefix { prefix: layout::IPAM_PREFIX.to_string() }];
        let mut macs: BTreeMap<String, MacRecord> = BTreeMap::new();
        for (zone, subnets) in &db.zones {
            for (cidr_text, ips) in subnets {
                let cidr: Cidr = cidr_text.parse().map_err(|err: String| Error::param("ipam", err))?;
                let record = IpamSubnetRecord { zone: zone.clone(), cidr: cidr.network().to_string(), changes: 0 };
                ops.push(Op::Put { key: layout::ipam_subnet(zone, &cidr), value: to_json(&record)? });
                for (ip, record) in ips {
                    let addr: IpAddr = ip.parse().map_err(|_| Error::param("ipam", format!("'{ip}' is not an address")))?;
                    ops.push(Op::Put { key: layout::ipam_ip(zone, &cidr, addr), value: to_json(record)? });
                    if let Some(mac) = &record.mac {
                        macs.entry(layout::ipam_mac(zone, mac)).or_default().set(addr.is_ipv6(), Some(addr.to_string()));
                    }
                }
            }
        }
        for (key, record) in macs {
            ops.push(Op::Put { key, value: to_json(&record)? });
        }
        Ok(ops)
    }

    /// The record of `ip` in `subnet`, if the IPAM has it.
    pub fn record(&self, subnet: &SubnetRef, ip: IpAddr) -> Result<Option<IpRecord>, Error> {
        self.store.get(&layout::ipam_ip(&subnet.zone, &subnet.cidr, ip))?.as_ref().map(from_json).transpose()
    }

    /// Adds `ip` for `owner` (`POST /cluster/sdn/vnets/{vnet}/ips` with `ip`).
    pub fn add_ip(&self, subnet: &SubnetRef, ip: IpAddr, owner: &Owner) -> Result<(), Error> {
        self.commit(|| {
            let mut plan = Plan::default();
            self.plan_add(&mut plan, subnet, ip, owner, owner.hostname_in(&subnet.cidr))?;
            Ok((plan, ()))
        })
    }

    /// The add of `ip` for `owner`, with `hostname` as the IPAM keeps it.
    fn plan_add(&self, plan: &mut Plan, subnet: &SubnetRef, ip: IpAddr, owner: &Owner, hostname: Option<String>) -> Result<(), Error> {
        let (subnet_key, subnet_entry, subnet_record) = self.subnet_entry(subnet)?;
        let ip_key = layout::ipam_ip(&subnet.zone, &subnet.cidr, ip);
        let mac_key = layout::ipam_mac(&subnet.zone, &owner.mac);
        let [existing, mac_entry]: [Option<Entry>; 2] = self
            .store
            .get_many(&[&ip_key, &mac_key])?
            .try_into()
            .map_err(|_| Error::Internal("the store answered a read of two entries with another count".into()))?;
        if existing.is_some() {
            return Err(Error::Conflict(format!("IP '{ip}' already exist")));
        }
        plan.touch_subnet(&subnet_key, &subnet_entry, subnet_record);
        plan.guard(&ip_key, None);
        let record = IpRecord {
            gateway: false,
            mac: Some(owner.mac.to_ascii_lowercase()),
            hostname,
            vmid: owner.vmid.clone(),
        };
        plan.ops.push(Op::Put { key: ip_key, value: to_json(&record)? });
        let mut macs: MacRecord = mac_entry.as_ref().map(from_json).transpose()?.unwrap_or_default();
        plan.guard(&mac_key, mac_entry.as_ref());
        macs.set(ip.is_ipv6(), Some(ip.to_string()));
        plan.ops.push(Op::Put { key: mac_key, value: to_json(&macs)? });
        Ok(())
    }

    /// Releases `ip` (`DELETE /cluster/sdn/vnets/{vnet}/ips`).
    pub fn del_ip(&self, subnet: &SubnetRef, ip: IpAddr) -> Result<(), Error> {
        self.commit(|| {
            let mut plan = Plan::default();
            self.plan_del(&mut plan, subnet, ip)?;
            Ok((plan, ()))
        })
    }

    fn plan_del(&self, plan: &mut Plan, subnet: &SubnetRef, ip: IpAddr) -> Result<IpRecord, Error> {
        let (subnet_key, subnet_entry, subnet_record) = self.subnet_entry(subnet)?;
        let ip_key = layout::ipam_ip(&subnet.zone, &subnet.cidr, ip);
        let entry = self.store.get(&ip_key)?.ok_or_else(|| Error::NotFound(format!("IP '{ip}' does not exist in IPAM DB")))?;
        let record: IpRecord = from_json(&entry)?;
        plan.touch_subnet(&subnet_key, &subnet_entry, subnet_record);
        plan.guard(&ip_key, Some(&entry));
        plan.ops.push(Op::Delete { key: ip_key });
        if let Some(mac) = &record.mac {
            let mac_key = layout::ipam_mac(&subnet.zone, mac);
            let mac_entry = self.store.get(&mac_key)?;
            let mut macs: MacRecord = mac_entry.as_ref().map(from_json).transpose()?.unwrap_or_default();
            if macs.get(ip.is_ipv6()) == Some(ip.to_string().as_str()) {
                plan.guard(&mac_key, mac_entry.as_ref());
                macs.set(ip.is_ipv6(), None);
                plan.ops.push(if macs.is_empty() {
                    Op::Delete { key: mac_key }
                } else {
                    Op::Put { key: mac_key, value: to_json(&macs)? }
                });
            }
        }
        // A released address is the first the next allocation in its range finds again.
        let (cursors, _) = self.store.list(&layout::ipam_next_of(&subnet.zone, &subnet.cidr))?;
        for cursor in cursors {
            let Some((start, end)) = cursor.key.rsplit('/').next().and_then(|r| r.split_once('-')) else { continue };
            let (Ok(start), Ok(end)) = (start.parse::<IpAddr>(), end.parse::<IpAddr>()) else { continue };
            let next = std::str::from_utf8(&cursor.value).ok().and_then(|t| t.parse::<IpAddr>().ok());
            let in_range = start.is_ipv4() == ip.is_ipv4() && start <= ip && ip <= end;
            if in_range && next.is_none_or(|next| next.is_ipv4() != ip.is_ipv4() || ip < next) {
                plan.ops.push(Op::Put { key: cursor.key, value: ip.to_string().into_bytes() });
            }
        }
        Ok(record)
    }

    /// Moves `owner.mac`'s address of `ip`'s family to `ip` (`PUT .../ips`), all or nothing.
    pub fn update_ip(&self, subnet: &SubnetRef, old: Option<(SubnetRef, IpAddr)>, ip: IpAddr, owner: &Owner) -> Result<(), Error> {
        self.commit(|| {
            let mut plan = Plan::default();
            // Given: with the new subnet's prefix; else the one the address had, as it was.
            let mut hostname = owner.hostname_in(&subnet.cidr);
            if let Some((old_subnet, old_ip)) = &old {
                if *old_ip == ip {
                    // The same address: only its record changes (the VM id).
                    let (subnet_key, subnet_entry, subnet_record) = self.subnet_entry(subnet)?;
                    let ip_key = layout::ipam_ip(&subnet.zone, &subnet.cidr, ip);
                    let entry = self.store.get(&ip_key)?.ok_or_else(|| Error::NotFound(format!("IP '{ip}' does not exist in IPAM DB")))?;
                    let existing: IpRecord = from_json(&entry)?;
                    plan.touch_subnet(&subnet_key, &subnet_entry, subnet_record);
                    plan.guard(&ip_key, Some(&entry));
                    let record = IpRecord { gateway: false, mac: Some(owner.mac.to_ascii_lowercase()), hostname: existing.hostname, vmid: owner.vmid.clone() };
                    plan.ops.push(Op::Put { key: ip_key, value: to_json(&record)? });
                    return Ok((plan, ()));
                }
                let released = self.plan_del(&mut plan, old_subnet, *old_ip)?;
                hostname = hostname.or(released.hostname);
            }
            let (guards, ops) = (std::mem::take(&mut plan.guards), std::mem::take(&mut plan.ops));
            self.plan_add(&mut plan, subnet, ip, owner, hostname)?;
            // The add read the MAC's index entry as it is before the release: merge them.
            plan.guards.retain(|g| !guards.contains(g));
            plan.guards.extend(guards);
            let mac_key = layout::ipam_mac(&subnet.zone, &owner.mac);
            let mut merged: Vec<Op> = ops.into_iter().filter(|op| !op_key_is(op, &mac_key)).collect();
            merged.append(&mut plan.ops);
            plan.ops = merged;
            Ok((plan, ()))
        })
    }

    /// The addresses `mac` has in `zone` (IPv4, IPv6), from the MAC index.
    pub fn ips_of_mac(&self, zone: &str, mac: &str) -> Result<MacRecord, Error> {
        Ok(self.store.get(&layout::ipam_mac(zone, mac))?.as_ref().map(from_json).transpose()?.unwrap_or_default())
    }

    /// Allocates, for each family that has subnets with DHCP ranges, the next free address of
    /// the first such subnet (in the order given) that has one, as the reference's
    /// `add_next_free_cidr` does for a VM's NIC; all families in one transaction. A MAC that
    /// already has an address of a family keeps it. Answers the addresses, IPv4 first.
    pub fn allocate(&self, subnets: &[(SubnetRef, Vec<DhcpRange>)], owner: &Owner) -> Result<Vec<IpAddr>, Error> {
        let families: Vec<bool> = [false, true]
            .into_iter()
            .filter(|v6| subnets.iter().any(|(s, ranges)| s.cidr.addr().is_ipv6() == *v6 && !ranges.is_empty()))
            .collect();
        if families.is_empty() {
            return Err(Error::param("ip", "no subnet of the vnet has a dhcp-range to allocate from: give 'ip'"));
        }
        let zone = subnets[0].0.zone.clone();
        let _writer = lock(&self.writer);
        // The first subnet and range of the only family: where the fast path may allocate.
        let fast_target = match families.as_slice() {
            [v6] => subnets.iter().find(|(s, r)| s.cidr.addr().is_ipv6() == *v6 && !r.is_empty()).map(|(s, r)| (s, r[0])),
            _ => None,
        };
        if let Some((subnet, range)) = &fast_target {
            if let Some(ip) = self.allocate_fast(subnet, range, owner)? {
                return Ok(vec![ip]);
            }
        }
        let ((answer, fast), revision) = self.commit_locked(|| {
            let mut plan = Plan::default();
            let mut fast = None;
            let mac_key = layout::ipam_mac(&zone, &owner.mac);
            let prefetch = self.prefetch(&mac_key, subnets)?;
            let mac_entry = prefetch.get(self.store.as_ref(), &mac_key)?;
            let mut macs: MacRecord = mac_entry.as_ref().map(from_json).transpose()?.unwrap_or_default();
            plan.guard(&mac_key, mac_entry.as_ref());
            let mut answer = Vec::new();
            let mut changed = false;
            for v6 in &families {
                if let Some(ip) = self.still_allocated(&zone, subnets, &owner.mac, macs.get(*v6))? {
                    answer.push(ip);
                    continue;
                }
                let mut found = None;
                for (subnet, ranges) in subnets.iter().filter(|(s, _)| s.cidr.addr().is_ipv6() == *v6) {
                    let (subnet_key, subnet_entry, subnet_record) = self.subnet_entry_from(&prefetch, subnet)?;
                    for range in ranges {
                        if let Some((ip, cursor_key)) = self.first_free(&prefetch, subnet, range)? {
                            plan.touch_subnet(&subnet_key, &subnet_entry, subnet_record.clone());
                            if fast_target.as_ref().is_some_and(|(s, r)| *s == subnet && r == range) {
                                let next = state::from_number(state::to_number(ip).wrapping_add(1), ip);
                                let record = IpamSubnetRecord { changes: subnet_record.changes + 1, ..subnet_record.clone() };
                                fast = Some((subnet_key.clone(), FastPath { revision: 0, record, cursor_key: cursor_key.clone(), next }));
                            }
                            found = Some((subnet, ip, cursor_key));
                            break;
                        }
                    }
                    if found.is_some() {
                        break;
                    }
                }
                let Some((subnet, ip, cursor_key)) = found else {
                    return Err(Error::Conflict(format!(
                        "can't find any free ip in zone {zone} for IPv{}: every dhcp-range is full",
                        if *v6 { 6 } else { 4 }
                    )));
                };
                let ip_key = layout::ipam_ip(&subnet.zone, &subnet.cidr, ip);
                plan.guard(&ip_key, None);
                let record = IpRecord { gateway: false, mac: Some(owner.mac.to_ascii_lowercase()), hostname: owner.hostname_in(&subnet.cidr), vmid: owner.vmid.clone() };
                plan.ops.push(Op::Put { key: ip_key, value: to_json(&record)? });
                let next = state::from_number(state::to_number(ip).wrapping_add(1), ip);
                lock(&self.cursors).insert(cursor_key.clone(), next);
                plan.ops.push(Op::Put { key: cursor_key, value: next.to_string().into_bytes() });
                macs.set(*v6, Some(ip.to_string()));
                changed = true;
                answer.push(ip);
            }
            if changed {
                plan.ops.push(Op::Put { key: mac_key, value: to_json(&macs)? });
            }
            Ok((plan, (answer, fast)))
        })?;
        if let Some((key, mut state)) = fast {
            state.revision = revision;
            lock(&self.fast).insert(key, state);
        }
        Ok(answer)
    }

    /// One round trip instead of two: if this process made the last change of the subnet,
    /// it knows the range's cursor and the subnet's record, and commits the allocation of the
    /// cursor's address guarded on the subnet being unchanged since, on the address and the
    /// MAC being unknown. Any other outcome leaves the reading path to decide (`None`).
    fn allocate_fast(&self, subnet: &SubnetRef, range: &DhcpRange, owner: &Owner) -> Result<Option<IpAddr>, Error> {
        let subnet_key = layout::ipam_subnet(&subnet.zone, &subnet.cidr);
        let Some(state) = lock(&self.fast).remove(&subnet_key) else { return Ok(None) };
        let ip = state.next;
        let cursor_key = layout::ipam_next(&subnet.zone, &subnet.cidr, range.start, range.end);
        if state.cursor_key != cursor_key || ip.is_ipv4() != range.start.is_ipv4() || ip < range.start || ip > range.end {
            return Ok(None);
        }
        let ip_key = layout::ipam_ip(&subnet.zone, &subnet.cidr, ip);
        let mac_key = layout::ipam_mac(&subnet.zone, &owner.mac);
        let record = IpRecord { gateway: false, mac: Some(owner.mac.to_ascii_lowercase()), hostname: owner.hostname_in(&subnet.cidr), vmid: owner.vmid.clone() };
        let mut macs = MacRecord::default();
        macs.set(ip.is_ipv6(), Some(ip.to_string()));
        let next = state::from_number(state::to_number(ip).wrapping_add(1), ip);
        let subnet_record = IpamSubnetRecord { changes: state.record.changes + 1, ..state.record.clone() };
        let txn = Txn::new()
            .unchanged(subnet_key.clone(), state.revision)
            .unchanged(ip_key.clone(), 0)
            .unchanged(mac_key.clone(), 0)
            .put(ip_key, to_json(&record)?)
            .put(cursor_key.clone(), next.to_string().into_bytes())
            .put(mac_key, to_json(&macs)?)
            .put(subnet_key.clone(), to_json(&subnet_record)?);
        match self.store.commit(txn)? {
            Commit::Committed(revision) => {
                lock(&self.cursors).insert(cursor_key.clone(), next);
                lock(&self.fast).insert(subnet_key, FastPath { revision, record: subnet_record, cursor_key, next });
                Ok(Some(ip))
            }
            Commit::GuardFailed => Ok(None),
        }
    }

    /// `ip` if the IPAM still has it for `mac` in one of `subnets`.
    fn still_allocated(&self, zone: &str, subnets: &[(SubnetRef, Vec<DhcpRange>)], mac: &str, ip: Option<&str>) -> Result<Option<IpAddr>, Error> {
        let Some(ip) = ip.and_then(|ip| ip.parse::<IpAddr>().ok()) else { return Ok(None) };
        let Some((subnet, _)) = subnets.iter().find(|(s, _)| s.zone == zone && s.cidr.contains(ip)) else { return Ok(None) };
        let Some(entry) = self.store.get(&layout::ipam_ip(zone, &subnet.cidr, ip))? else { return Ok(None) };
        let record: IpRecord = from_json(&entry)?;
        Ok(record.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mac)).then_some(ip))
    }

    /// Reads, in one round trip, what an allocation needs: the MAC's index entry, the
    /// subnets' records and range cursors, and the first addresses after the first range's
    /// cursor as this process last left it.
    fn prefetch(&self, mac_key: &str, subnets: &[(SubnetRef, Vec<DhcpRange>)]) -> Result<Prefetch, Error> {
        let mut keys = vec![mac_key.to_string()];
        let cursors = lock(&self.cursors).clone();
        let mut probed_families = Vec::new();
        for (subnet, ranges) in subnets.iter().filter(|(_, ranges)| !ranges.is_empty()) {
            keys.push(layout::ipam_subnet(&subnet.zone, &subnet.cidr));
            for range in ranges {
                keys.push(layout::ipam_next(&subnet.zone, &subnet.cidr, range.start, range.end));
            }
            let v6 = subnet.cidr.addr().is_ipv6();
            if !probed_families.contains(&v6) {
                probed_families.push(v6);
                let range = &ranges[0];
                let hint = cursors.get(&layout::ipam_next(&subnet.zone, &subnet.cidr, range.start, range.end)).copied();
                keys.extend(
                    state::scan_order(range.start, range.end, hint)
                        .take(PROBE_BATCH)
                        .map(|ip| layout::ipam_ip(&subnet.zone, &subnet.cidr, ip)),
                );
            }
        }
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let entries = self.store.get_many(&refs)?;
        Ok(Prefetch(keys.into_iter().zip(entries).collect()))
    }

    /// The first free address of `range` from its cursor on (wrapping), and the cursor's key.
    fn first_free(&self, prefetch: &Prefetch, subnet: &SubnetRef, range: &DhcpRange) -> Result<Option<(IpAddr, String)>, Error> {
        let cursor_key = layout::ipam_next(&subnet.zone, &subnet.cidr, range.start, range.end);
        let hint = prefetch
            .get(self.store.as_ref(), &cursor_key)?
            .and_then(|e| String::from_utf8(e.value).ok())
            .and_then(|t| t.parse().ok());
        let mut order = state::scan_order(range.start, range.end, hint);
        let mut probed = 0;
        loop {
            let batch: Vec<IpAddr> = order.by_ref().take(PROBE_BATCH).collect();
            if batch.is_empty() {
                return Ok(None);
            }
            let keys: Vec<String> = batch.iter().map(|ip| layout::ipam_ip(&subnet.zone, &subnet.cidr, *ip)).collect();
            let entries = prefetch.get_many(self.store.as_ref(), &keys)?;
            if let Some(position) = entries.iter().position(Option::is_none) {
                return Ok(Some((batch[position], cursor_key)));
            }
            probed += batch.len();
            if probed >= MAX_PROBES {
                return Err(Error::Conflict(format!(
                    "no free address found in dhcp-range {}-{} after probing {probed} addresses",
                    range.start, range.end
                )));
            }
        }
    }

    /// What a change of a subnet in the pending configuration does to the IPAM, as the
    /// reference's subnet hooks do: registers the subnet and its gateway when it is created,
    /// follows a changed gateway, and refuses to delete a subnet that still has addresses
    /// other than its gateway. The guards and operations join the configuration change's
    /// transaction. Subnets of zones without the PVE IPAM leave it alone.
    pub fn plan_subnet_change(&self, pending: &Config, change: &Change) -> Result<(Vec<Guard>, Vec<Op>), Error> {
        if change.kind != Kind::Subnets {
            return Ok(Default::default());
        }
        self.plan_subnet(pending, pending.get(Kind::Subnets, &change.id), change)
    }

    /// [`Ipam::plan_subnet_change`] with the subnet as it was before (`None`: created).
    fn plan_subnet(&self, pending: &Config, old: Option<&SdnObject>, change: &Change) -> Result<(Vec<Guard>, Vec<Op>), Error> {
        let subnet = match (old, &change.object) {
            (_, Some(object)) | (Some(object), None) => object,
            (None, None) => return Ok(Default::default()),
        };
        let Some(subnet_ref) = SubnetRef::of(subnet) else { return Ok(Default::default()) };
        if !zone_uses_pve_ipam(pending, &subnet_ref.zone) {
            return Ok(Default::default());
        }
        let mut plan = Plan::default();
        let subnet_key = layout::ipam_subnet(&subnet_ref.zone, &subnet_ref.cidr);
        let subnet_entry = self.store.get(&subnet_key)?;
        match &change.object {
            Some(new) => {
                let (entry, record) = match &subnet_entry {
                    Some(entry) => (entry.clone(), from_json(entry)?),
                    None => {
                        // Registered here; the guard on its absence keeps a racing creation out.
                        let record = IpamSubnetRecord { zone: subnet_ref.zone.clone(), cidr: subnet_ref.cidr.to_string(), changes: 0 };
                        (Entry { key: subnet_key.clone(), value: Vec::new(), mod_revision: 0 }, record)
                    }
                };
                plan.touch_subnet(&subnet_key, &entry, record);
                let new_gateway = registered_gateway(new);
                let old_gateway = old.and_then(registered_gateway);
                if new_gateway != old_gateway {
                    if let Some(old_gateway) = old_gateway {
                        let key = layout::ipam_ip(&subnet_ref.zone, &subnet_ref.cidr, old_gateway);
                        if let Some(entry) = self.store.get(&key)? {
                            if from_json::<IpRecord>(&entry)?.gateway {
                                plan.guard(&key, Some(&entry));
                                plan.ops.push(Op::Delete { key });
                            }
                        }
                    }
                    if let Some(gateway) = new_gateway {
                        let key = layout::ipam_ip(&subnet_ref.zone, &subnet_ref.cidr, gateway);
                        let entry = self.store.get(&key)?;
                        if let Some(entry) = &entry {
                            if !from_json::<IpRecord>(entry)?.gateway {
                                return Err(Error::param("gateway", format!("IP '{gateway}' already exist")));
                            }
                        }
                        plan.guard(&key, entry.as_ref());
                        plan.ops.push(Op::Put { key, value: to_json(&IpRecord { gateway: true, ..IpRecord::default() })? });
                    }
                }
            }
            None => {
                let Some(entry) = subnet_entry else { return Ok(Default::default()) };
                let (ips, _) = self.store.list(&layout::ipam_ips_of(&subnet_ref.zone, &subnet_ref.cidr))?;
                let mut only_gateway = ips.len() <= 1;
                for ip in &ips {
                    only_gateway &= from_json::<IpRecord>(ip)?.gateway;
                }
                if !only_gateway {
                    return Err(Error::Conflict(format!(
                        "cannot delete subnet '{}', not empty ({} address(es) allocated: release them first)",
                        subnet_ref.cidr,
                        ips.len()
                    )));
                }
                // Every change of the subnet's addresses rewrites its record: the guard on it
                // keeps an allocation racing this deletion out.
                plan.guard(&subnet_key, Some(&entry));
                plan.ops.push(Op::Delete { key: subnet_key });
                plan.ops.push(Op::DeletePrefix { prefix: layout::ipam_ips_of(&subnet_ref.zone, &subnet_ref.cidr) });
                plan.ops.push(Op::DeletePrefix { prefix: layout::ipam_next_of(&subnet_ref.zone, &subnet_ref.cidr) });
            }
        }
        plan.into_parts()
    }

    /// Brings the IPAM in line with `config` after it replaced the pending configuration
    /// (a rollback): subnets it has are registered (with their gateway), and subnets it no
    /// longer has are released if nothing but their gateway is allocated in them (addresses
    /// guests hold are kept, and listed by the status until they are released).
    pub fn plan_reconcile(&self, config: &Config) -> Result<(Vec<Guard>, Vec<Op>), Error> {
        let mut guards = Vec::new();
        let mut ops = Vec::new();
        let (registered, _) = self.store.list(layout::IPAM_SUBNETS_PREFIX)?;
        let mut known: BTreeMap<String, Entry> = registered.into_iter().map(|e| (e.key.clone(), e)).collect();
        for subnet in config.list(Kind::Subnets) {
            let Some(subnet_ref) = SubnetRef::of(subnet) else { continue };
            if !zone_uses_pve_ipam(config, &subnet_ref.zone) {
                continue;
            }
            let key = layout::ipam_subnet(&subnet_ref.zone, &subnet_ref.cidr);
            if known.remove(&key).is_some() {
                continue;
            }
            let change = Change { kind: Kind::Subnets, id: subnet.id().to_string(), object: Some(subnet.clone()) };
            match self.plan_subnet(config, None, &change) {
                Ok((g, o)) => {
                    guards.extend(g);
                    ops.extend(o);
                }
                // A gateway a guest holds by now must not stop the rollback.
                Err(err @ Error::BadParams(_)) => tracing::warn!("IPAM: subnet {} not registered again: {err}", subnet.id()),
                Err(err) => return Err(err),
            }
        }
        for (key, entry) in known {
            let record: IpamSubnetRecord = from_json(&entry)?;
            let Ok(cidr) = record.cidr.parse::<Cidr>() else { continue };
            let (ips, _) = self.store.list(&layout::ipam_ips_of(&record.zone, &cidr))?;
            let mut only_gateway = ips.len() <= 1;
            for ip in &ips {
                only_gateway &= from_json::<IpRecord>(ip)?.gateway;
            }
            if only_gateway {
                guards.push(Guard::ModRevision { key: key.clone(), revision: entry.mod_revision });
                ops.push(Op::Delete { key });
                ops.push(Op::DeletePrefix { prefix: layout::ipam_ips_of(&record.zone, &cidr) });
                ops.push(Op::DeletePrefix { prefix: layout::ipam_next_of(&record.zone, &cidr) });
            }
        }
        Ok((guards, ops))
    }
}

fn op_key_is(op: &Op, key: &str) -> bool {
    match op {
        Op::Put { key: k, .. } | Op::Delete { key: k } | Op::PutExpiring { key: k, .. } => k == key,
        Op::DeletePrefix { .. } => false,
    }
}

/// Whether the zone's `ipam` is an IPAM of type `pve`.
pub fn zone_uses_pve_ipam(config: &Config, zone: &str) -> bool {
    config
        .get(Kind::Zones, zone)
        .and_then(|z| z.get_str("ipam"))
        .and_then(|ipam| config.get(Kind::Ipams, ipam))
        .is_some_and(|ipam| ipam.type_name() == "pve")
}

/// The zone's IPAM if it is a NetBox one.
pub fn zone_netbox<'c>(config: &'c Config, zone: &str) -> Option<&'c SdnObject> {
    config
        .get(Kind::Zones, zone)
        .and_then(|z| z.get_str("ipam"))
        .and_then(|ipam| config.get(Kind::Ipams, ipam))
        .filter(|ipam| ipam.type_name() == "netbox")
}

/// The gateway the IPAM registers for a subnet: none for an IPv4 /32 (point-to-point), as in
/// the reference.
pub fn registered_gateway(subnet: &SdnObject) -> Option<IpAddr> {
    let gateway: IpAddr = subnet.get_str("gateway")?.parse().ok()?;
    let cidr = SubnetRef::of(subnet)?.cidr;
    (!(gateway.is_ipv4() && cidr.prefix() == 32) && cidr.contains(gateway)).then_some(gateway)
}
