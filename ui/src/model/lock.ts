// The global SDN lock as the UI shows it. The lock token is a secret only its taker gets: this
// browser session keeps it (sessionStorage) and sends it with every change while it holds it.

import type { LockStatus } from '../api/types';

/** The token this session got from `POST /cluster/sdn/lock`, with what identifies that lock. */
export interface HeldLock {
  token: string;
  holder: string;
  since: number;
}

export type LockView =
  | { state: 'loading' }
  | { state: 'unknown' }
  | { state: 'unlocked' }
  | { state: 'mine'; holder: string; since: number; expires: number | null; comment: string | null }
  | { state: 'other'; holder: string; since: number; expires: number | null; comment: string | null; sameUser: boolean };

/** What the lock status means for this session; `failed`: the last read of it failed. */
export function lockView(status: LockStatus | null, held: HeldLock | null, me: string, failed = false): LockView {
  if (failed) return { state: 'unknown' };
  if (!status) return { state: 'loading' };
  if (!status.locked) return { state: 'unlocked' };
  const holder = status.holder ?? 'unknown';
  const since = status.since ?? 0;
  const info = { holder, since, expires: status.expires ?? null, comment: status.comment ?? null };
  // The kept token counts only for the lock it came with, and only for the user who took it
  // (another user may log in later in the same tab).
  if (held && held.holder === holder && held.since === since && holder === me) return { state: 'mine', ...info };
  return { state: 'other', ...info, sameUser: holder === me || holder.startsWith(`${me}!`) };
}

/** The token to send with a change, if this session holds the lock. */
export function tokenFor(view: LockView, held: HeldLock | null): string | undefined {
  return view.state === 'mine' && held ? held.token : undefined;
}

function clock(epoch: number): string {
  const d = new Date(epoch * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "5 min", "2 h 3 min", "40 s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export interface Banner {
  tone: 'neutral' | 'mine' | 'other' | 'unknown';
  title: string;
  details: string[];
}

export function banner(view: LockView, now: number): Banner {
  switch (view.state) {
    case 'loading':
      return { tone: 'unknown', title: 'Reading the lock…', details: [] };
    case 'unknown':
      return { tone: 'unknown', title: 'Lock state unknown', details: ['the lock status could not be read; retrying'] };
    case 'unlocked':
      return { tone: 'neutral', title: 'Not locked', details: ['anyone with SDN.Allocate may change the configuration'] };
    case 'mine':
    case 'other': {
      const details = [`since ${clock(view.since)} (${duration(now - view.since)} ago)`];
      details.push(view.expires ? `until ${clock(view.expires)} (in ${duration(view.expires - now)})` : 'no expiry');
      if (view.comment) details.push(`why: ${view.comment}`);
      if (view.state === 'mine') details.unshift('held by this session');
      else if (view.sameUser) details.unshift('your user, in another session');
      return { tone: view.state, title: `Locked by ${view.holder}`, details };
    }
  }
}

/**
 * Why this session may not change the configuration now (null: it may). Changes need
 * SDN.Allocate, and while someone else holds the lock the API refuses them.
 */
export function changeBlocked(view: LockView, mayAllocate: boolean): string | null {
  if (!mayAllocate) return 'Read-only: you lack SDN.Allocate';
  if (view.state === 'other') return `Locked by ${view.holder}: changes need the lock's token`;
  return null;
}

const STORAGE_KEY = 'sdnd.lock';

export function loadHeld(): HeldLock | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as HeldLock) : null;
  } catch {
    return null;
  }
}

export function saveHeld(held: HeldLock | null) {
  if (held) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(held));
  else sessionStorage.removeItem(STORAGE_KEY);
}
