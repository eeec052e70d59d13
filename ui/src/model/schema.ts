// The object kinds of the SDN API and each type's fields, for forms, tables and the diff.
// Fabrics, route maps and prefix lists join here as kinds once the API serves them.

import type { SdnEntry } from '../api/types';

export type KindName = 'zones' | 'vnets' | 'subnets' | 'controllers' | 'ipams' | 'dns';

export type FieldType = 'text' | 'int' | 'bool' | 'enum' | 'list' | 'ref';

export interface Field {
  name: string;
  label: string;
  type: FieldType;
  required?: boolean;
  options?: string[];
  /** For `ref`: the kind whose ids are offered. */
  ref?: KindName;
  min?: number;
  max?: number;
  placeholder?: string;
  help?: string;
  /** A credential: masked in tables, a password input in forms. */
  secret?: boolean;
}

export interface KindDef {
  name: KindName;
  /** Singular, as buttons and dialogs say it. */
  label: string;
  plural: string;
  idParam: string;
  idLabel: string;
  idHelp: string;
  /** Types the kind has; one pseudo-type for kinds without (vnets, subnets). */
  types: Record<string, Field[]>;
  /** Whether `type` is a parameter (vnets and subnets have none to choose). */
  typed: boolean;
  /** Part of the running configuration (pending/applied); ipams and dns are not. */
  inRunning: boolean;
}

const nodes: Field = { name: 'nodes', label: 'Nodes', type: 'list', placeholder: 'all nodes', help: 'comma-separated node names' };
const zoneCommon: Field[] = [
  nodes,
  { name: 'ipam', label: 'IPAM', type: 'ref', ref: 'ipams' },
  { name: 'dns', label: 'DNS server', type: 'ref', ref: 'dns' },
  { name: 'reversedns', label: 'Reverse DNS server', type: 'ref', ref: 'dns' },
  { name: 'dnszone', label: 'DNS zone', type: 'text' },
  { name: 'mtu', label: 'MTU', type: 'int', min: 1280, max: 65520 },
];
const macLearning: Field = { name: 'bridge-disable-mac-learning', label: 'Disable MAC learning', type: 'bool' };
const fingerprint: Field = { name: 'fingerprint', label: 'Fingerprint', type: 'text', help: 'SHA-256 of the server certificate' };

export const KINDS: Record<KindName, KindDef> = {
  zones: {
    name: 'zones', label: 'Zone', plural: 'Zones', idParam: 'zone', idLabel: 'ID', typed: true, inRunning: true,
    idHelp: '2–8 letters or digits, starting with a letter',
    types: {
      simple: [{ name: 'dhcp', label: 'DHCP', type: 'enum', options: ['dnsmasq'] }, ...zoneCommon],
      vlan: [{ name: 'bridge', label: 'Bridge', type: 'text', required: true }, macLearning, ...zoneCommon],
      qinq: [
        { name: 'bridge', label: 'Bridge', type: 'text', required: true },
        { name: 'tag', label: 'Service VLAN', type: 'int', required: true, min: 1, max: 4096 },
        { name: 'vlan-protocol', label: 'Service VLAN protocol', type: 'enum', options: ['802.1q', '802.1ad'] },
        macLearning,
        ...zoneCommon,
      ],
      vxlan: [
        { name: 'peers', label: 'Peers', type: 'list', help: 'comma-separated IP addresses' },
        { name: 'fabric', label: 'Fabric', type: 'text' },
        { name: 'vxlan-port', label: 'VXLAN port', type: 'int', min: 1, max: 65535, placeholder: '4789' },
        ...zoneCommon,
      ],
      evpn: [
        { name: 'controller', label: 'Controller', type: 'ref', ref: 'controllers', required: true },
        { name: 'vrf-vxlan', label: 'VRF VXLAN tag', type: 'int', required: true, min: 1, max: 16777215 },
        { name: 'mac', label: 'VNet MAC address', type: 'text' },
        { name: 'exitnodes', label: 'Exit nodes', type: 'list' },
        { name: 'exitnodes-primary', label: 'Primary exit node', type: 'text' },
        { name: 'exitnodes-local-routing', label: 'Exit nodes local routing', type: 'bool' },
        { name: 'advertise-subnets', label: 'Advertise subnets', type: 'bool' },
        { name: 'disable-arp-nd-suppression', label: 'Disable ARP/ND suppression', type: 'bool' },
        { name: 'rt-import', label: 'Route target import', type: 'list', help: 'ASN:NN, comma-separated' },
        { name: 'vxlan-port', label: 'VXLAN port', type: 'int', min: 1, max: 65535, placeholder: '4789' },
        macLearning,
        ...zoneCommon,
      ],
    },
  },
  vnets: {
    name: 'vnets', label: 'VNet', plural: 'VNets', idParam: 'vnet', idLabel: 'Name', typed: false, inRunning: true,
    idHelp: '2–8 letters or digits, starting with a letter',
    types: {
      vnet: [
        { name: 'zone', label: 'Zone', type: 'ref', ref: 'zones', required: true },
        { name: 'tag', label: 'Tag', type: 'int', min: 1, max: 16777215, help: 'VLAN id or VNI; required in vlan, qinq, vxlan and evpn zones' },
        { name: 'alias', label: 'Alias', type: 'text' },
        { name: 'vlanaware', label: 'VLAN aware', type: 'bool' },
        { name: 'isolate-ports', label: 'Isolate ports', type: 'bool' },
      ],
    },
  },
  subnets: {
    name: 'subnets', label: 'Subnet', plural: 'Subnets', idParam: 'subnet', idLabel: 'Subnet', typed: false, inRunning: true,
    idHelp: 'CIDR, e.g. 10.0.0.0/24',
    types: {
      subnet: [
        { name: 'gateway', label: 'Gateway', type: 'text' },
        { name: 'snat', label: 'SNAT', type: 'bool' },
        { name: 'dnszoneprefix', label: 'DNS zone prefix', type: 'text' },
        { name: 'dhcp-dns-server', label: 'DHCP DNS server', type: 'text' },
      ],
    },
  },
  controllers: {
    name: 'controllers', label: 'Controller', plural: 'Controllers', idParam: 'controller', idLabel: 'ID', typed: true, inRunning: true,
    idHelp: 'letters, digits, - and _, starting with a letter',
    types: {
      evpn: [
        { name: 'asn', label: 'ASN', type: 'int', required: true, min: 0, max: 4294967295 },
        { name: 'peers', label: 'Peers', type: 'list', help: 'comma-separated IP addresses' },
        { name: 'fabric', label: 'Fabric', type: 'text' },
      ],
      bgp: [
        { name: 'node', label: 'Node', type: 'text', required: true },
        { name: 'asn', label: 'ASN', type: 'int', required: true, min: 0, max: 4294967295 },
        { name: 'peers', label: 'Peers', type: 'list', required: true },
        { name: 'ebgp', label: 'EBGP', type: 'bool' },
        { name: 'ebgp-multihop', label: 'EBGP multihop', type: 'int', min: 1, max: 255 },
        { name: 'loopback', label: 'Loopback interface', type: 'text' },
        { name: 'bgp-multipath-as-path-relax', label: 'BGP multipath AS path relax', type: 'bool' },
      ],
      isis: [
        { name: 'node', label: 'Node', type: 'text', required: true },
        { name: 'isis-domain', label: 'IS-IS domain', type: 'text', required: true },
        { name: 'isis-net', label: 'IS-IS network entity title', type: 'text', required: true },
        { name: 'isis-ifaces', label: 'IS-IS interfaces', type: 'list', required: true },
        { name: 'loopback', label: 'Loopback interface', type: 'text' },
      ],
    },
  },
  ipams: {
    name: 'ipams', label: 'IPAM', plural: 'IPAMs', idParam: 'ipam', idLabel: 'ID', typed: true, inRunning: false,
    idHelp: 'letters, digits, - and _, starting with a letter',
    types: {
      pve: [],
      netbox: [{ name: 'url', label: 'URL', type: 'text', required: true }, { name: 'token', label: 'Token', type: 'text', required: true, secret: true }, fingerprint],
      phpipam: [
        { name: 'url', label: 'URL', type: 'text', required: true },
        { name: 'token', label: 'Token', type: 'text', required: true, secret: true },
        { name: 'section', label: 'Section', type: 'int', required: true },
        fingerprint,
      ],
    },
  },
  dns: {
    name: 'dns', label: 'DNS', plural: 'DNS', idParam: 'dns', idLabel: 'ID', typed: true, inRunning: false,
    idHelp: 'letters, digits, - and _, starting with a letter',
    types: {
      powerdns: [
        { name: 'url', label: 'URL', type: 'text', required: true },
        { name: 'key', label: 'API key', type: 'text', required: true, secret: true },
        { name: 'ttl', label: 'TTL', type: 'int' },
        { name: 'reversemaskv6', label: 'Reverse mask v6', type: 'int' },
        fingerprint,
      ],
    },
  },
};

/** Kinds shown as the configuration tree's top level, in PVE's order. */
export const TOP_KINDS: KindName[] = ['zones', 'vnets', 'controllers', 'ipams', 'dns'];
export const RUNNING_KINDS: KindName[] = ['zones', 'vnets', 'subnets', 'controllers'];

/** Keys of an entry that are not properties of the object. */
const META = new Set(['digest', 'state', 'pending', 'type']);
/** Subnet fields the API derives from the id. */
const SUBNET_DERIVED = new Set(['id', 'cidr', 'zone', 'network', 'mask', 'vnet']);

export function entryId(kind: KindName, entry: SdnEntry): string {
  return String(entry[KINDS[kind].idParam] ?? entry.id ?? '');
}

/** Whether `key` of an entry of `kind` is one of its own properties (not id, meta, derived). */
export function isProperty(kind: KindName, key: string): boolean {
  if (META.has(key) || key === KINDS[kind].idParam) return false;
  if (kind === 'subnets' && SUBNET_DERIVED.has(key)) return false;
  return true;
}

export function fieldsOf(kind: KindName, type: string | undefined): Field[] {
  const def = KINDS[kind];
  const types = Object.keys(def.types);
  return def.types[type ?? ''] ?? def.types[types[0] ?? ''] ?? [];
}

export function fieldLabel(kind: KindName, type: string | undefined, name: string): string {
  if (name === 'type') return 'Type';
  return fieldsOf(kind, type).find((f) => f.name === name)?.label
    ?? Object.values(KINDS[kind].types).flat().find((f) => f.name === name)?.label
    ?? name;
}

/** Whether a property of `kind` is a credential (shown masked). */
export function isSecret(kind: KindName, name: string): boolean {
  return Object.values(KINDS[kind].types).flat().some((f) => f.name === name && f.secret);
}

/** A property as tables show it: credentials masked. */
export function displayValue(kind: KindName, name: string, value: unknown): string {
  if (value !== undefined && value !== null && value !== '' && isSecret(kind, name)) return '••••••••';
  return formatValue(value);
}

/** A property value as text: lists comma-separated, booleans as PVE shows them. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(formatValue).join(', ');
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}=${formatValue(v)}`).join(',');
  }
  return String(value);
}

/** The ACL path an object is checked against (as sdnd checks it). */
export function aclPath(kind: KindName, entry: SdnEntry): string {
  const id = entryId(kind, entry);
  switch (kind) {
    case 'zones': return `/sdn/zones/${id}`;
    case 'vnets': return `/sdn/zones/${String(entry.zone ?? entry.pending?.zone ?? '')}/${id}`;
    case 'subnets': return `/sdn/zones/${String(entry.zone ?? '')}/${String(entry.vnet ?? '')}`;
    default: return `/sdn/${kind}/${id}`;
  }
}
