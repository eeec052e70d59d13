import { describe, expect, it } from 'vitest';
import { banner, changeBlocked, duration, lockView, tokenFor } from '../src/model/lock';

const locked = { locked: 1 as const, holder: 'root@pam', since: 1000, expires: 4600, comment: 'migration' };

describe('lock banner states', () => {
  it('unlocked, loading and unknown', () => {
    expect(banner(lockView({ locked: 0 }, null, 'root@pam'), 2000).title).toBe('Not locked');
    expect(banner(lockView(null, null, 'root@pam'), 2000).title).toBe('Reading the lock…');
    expect(banner(lockView(locked, null, 'root@pam', true), 2000).title).toBe('Lock state unknown');
  });

  it('held by this session: the kept token matches holder and time', () => {
    const held = { token: 'T', holder: 'root@pam', since: 1000 };
    const view = lockView(locked, held, 'root@pam');
    expect(view.state).toBe('mine');
    expect(tokenFor(view, held)).toBe('T');
    const b = banner(view, 1300);
    expect(b.title).toBe('Locked by root@pam');
    expect(b.details[0]).toBe('held by this session');
    expect(b.details.some((d) => d.includes('(5 min ago)'))).toBe(true);
    expect(b.details.some((d) => d.includes('(in 55 min)'))).toBe(true);
    expect(b.details).toContain('why: migration');
    expect(changeBlocked(view, true)).toBeNull();
  });

  it('a token kept from an earlier lock does not make a new lock ours', () => {
    const view = lockView({ ...locked, since: 2000 }, { token: 'T', holder: 'root@pam', since: 1000 }, 'root@pam');
    expect(view.state).toBe('other');
    expect(tokenFor(view, { token: 'T', holder: 'root@pam', since: 1000 })).toBeUndefined();
    expect(banner(view, 2100).details[0]).toBe('your user, in another session');
  });

  it("another user logging in to the same tab doesn't inherit the kept token", () => {
    const view = lockView(locked, { token: 'T', holder: 'root@pam', since: 1000 }, 'alice@pve');
    expect(view.state).toBe('other');
  });

  it('held by someone else: changes are blocked naming the holder', () => {
    const view = lockView({ ...locked, expires: null, comment: null }, null, 'alice@pve');
    const b = banner(view, 1000);
    expect(b.tone).toBe('other');
    expect(b.details).toContain('no expiry');
    expect(b.details.some((d) => d.startsWith('why'))).toBe(false);
    expect(changeBlocked(view, true)).toBe("Locked by root@pam: changes need the lock's token");
    expect(changeBlocked(lockView({ locked: 0 }, null, 'x'), false)).toMatch(/Read-only/);
  });

  it('formats durations', () => {
    expect(duration(40)).toBe('40 s');
    expect(duration(3600)).toBe('1 h');
    expect(duration(7380)).toBe('2 h 3 min');
  });
});
