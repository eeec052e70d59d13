import { describe, expect, it } from 'vitest';
import { classifyDiff, objectChange, pendingChanges, summarize } from '../src/model/pending';
import { displayValue } from '../src/model/schema';

describe('pending diff', () => {
  it('a new object lists every property as added', () => {
    const c = objectChange('zones', { zone: 'z1', type: 'vlan', state: 'new', pending: { bridge: 'vmbr0', mtu: 1450 }, digest: 'x' });
    expect(c).toMatchObject({ kind: 'zones', id: 'z1', state: 'new', type: 'vlan' });
    expect(c!.props).toEqual([
      { name: 'bridge', change: 'added', after: 'vmbr0' },
      { name: 'mtu', change: 'added', after: '1450' },
    ]);
  });

  it('a changed object marks changed, added, removed and unchanged properties', () => {
    const c = objectChange('vnets', {
      vnet: 'v1', type: 'vnet', zone: 'z1', tag: 100, alias: 'old', vlanaware: 1, state: 'changed',
      pending: { tag: 200, alias: 'deleted', 'isolate-ports': 1 },
    });
    expect(c!.parent).toBe('z1');
    const byName = Object.fromEntries(c!.props.map((p) => [p.name, p]));
    expect(byName.tag).toEqual({ name: 'tag', change: 'changed', before: '100', after: '200' });
    expect(byName.alias).toEqual({ name: 'alias', change: 'removed', before: 'old' });
    expect(byName['isolate-ports']).toEqual({ name: 'isolate-ports', change: 'added', after: '1' });
    expect(byName.vlanaware!.change).toBe('unchanged');
    expect(byName.zone!.change).toBe('unchanged');
  });

  it('a deleted object lists its running properties as removed', () => {
    const c = objectChange('controllers', { controller: 'c1', type: 'evpn', asn: 65000, peers: '10.0.0.1,10.0.0.2', state: 'deleted', pending: {} });
    expect(c!.props).toEqual([
      { name: 'asn', change: 'removed', before: '65000' },
      { name: 'peers', change: 'removed', before: '10.0.0.1,10.0.0.2' },
    ]);
  });

  it('objects without a state are not changes; subnet fields derived from the id are no properties', () => {
    expect(objectChange('zones', { zone: 'z1', type: 'simple' })).toBeNull();
    const c = objectChange('subnets', {
      subnet: 'z1-10.0.0.0-24', id: 'z1-10.0.0.0-24', cidr: '10.0.0.0/24', zone: 'z1', network: '10.0.0.0', mask: '24',
      vnet: 'v1', type: 'subnet', 'dhcp-range': [], state: 'new', pending: { gateway: '10.0.0.1' },
    });
    expect(c!.props.map((p) => p.name)).toEqual(['gateway']);
    expect(c!.parent).toBe('v1');
  });

  it('counts and summarizes across kinds', () => {
    const changes = pendingChanges({
      zones: [{ zone: 'a', state: 'new', pending: {} }, { zone: 'b' }],
      vnets: [{ vnet: 'v', zone: 'a', state: 'changed', pending: { tag: 3 } }],
      controllers: [{ controller: 'c', state: 'deleted', pending: {} }],
    });
    expect(changes.map((c) => `${c.kind}:${c.id}:${c.state}`)).toEqual(['zones:a:new', 'vnets:v:changed', 'controllers:c:deleted']);
    expect(summarize(changes)).toBe('3 pending changes (1 new, 1 changed, 1 deleted)');
    expect(summarize([])).toBe('No pending changes');
  });

  it('classifies unified diff lines', () => {
    const lines = classifyDiff('--- a\n+++ b\n@@ -1 +1,2 @@\n auto vmbr0\n+auto vnet1\n-old\n');
    expect(lines.map((l) => l.change)).toEqual(['meta', 'meta', 'hunk', 'context', 'add', 'del']);
  });
});

describe('display', () => {
  it('masks credentials, shows everything else', () => {
    expect(displayValue('ipams', 'token', 'abc')).toBe('••••••••');
    expect(displayValue('dns', 'key', 'abc')).toBe('••••••••');
    expect(displayValue('dns', 'key', '')).toBe('');
    expect(displayValue('dns', 'url', 'https://x')).toBe('https://x');
    expect(displayValue('zones', 'nodes', ['a', 'b'])).toBe('a, b');
  });
});
