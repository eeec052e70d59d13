import { describe, expect, it } from 'vitest';
import { can, canSomewhere } from '../src/model/perms';
import { qualifiedUser, renewDue, ticketIssued } from '../src/api/session';

describe('permissions', () => {
  const perms = {
    '/sdn': { 'SDN.Audit': 1 },
    '/sdn/zones/zb': { 'SDN.Allocate': 1, 'SDN.Audit': 1 },
    '/sdn/zones/zc': { 'SDN.Allocate': 0 },
    '/sdn/zones/za': {},
  };
  it('uses the path itself, else the nearest listed ancestor if the privilege propagates', () => {
    expect(can(perms, '/sdn', 'SDN.Allocate')).toBe(false);
    expect(can(perms, '/sdn/zones/zb', 'SDN.Allocate')).toBe(true);
    expect(can(perms, '/sdn/zones/zb/v1', 'SDN.Allocate')).toBe(true);
    expect(can(perms, '/sdn/zones/zc', 'SDN.Allocate')).toBe(true);
    expect(can(perms, '/sdn/zones/zc/v1', 'SDN.Allocate')).toBe(false);
    expect(can(perms, '/sdn/zones/za', 'SDN.Audit')).toBe(false);
    expect(can(perms, '/sdn/zones/zq', 'SDN.Audit')).toBe(true);
    expect(can({}, '/sdn', 'SDN.Audit')).toBe(false);
    expect(canSomewhere(perms, '/sdn/zones', 'SDN.Allocate')).toBe(true);
    expect(canSomewhere(perms, '/sdn/controllers', 'SDN.Allocate')).toBe(false);
  });
});

describe('session', () => {
  it('reads the issue time of a PVE ticket and renews after 15 minutes', () => {
    expect(ticketIssued('PVE:root@pam:6B0E9C48::abcdef')).toBe(0x6b0e9c48);
    expect(ticketIssued('garbage')).toBeNull();
    const s = { username: 'root@pam', csrf: 'c', issued: 1000 };
    expect(renewDue(s, 1000 + 899)).toBe(false);
    expect(renewDue(s, 1000 + 900)).toBe(true);
  });
  it('completes a bare user name with the realm', () => {
    expect(qualifiedUser('alice', 'pve')).toBe('alice@pve');
    expect(qualifiedUser(' root@pam ', 'pve')).toBe('root@pam');
  });
});
