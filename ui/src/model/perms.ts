// What the caller may do, from `GET /access/permissions` (PVE's shape: path -> priv -> propagate).
// The server checks every request anyway; this only decides what the UI offers.

import type { Permissions } from '../api/types';

export const SDN_AUDIT = 'SDN.Audit';
export const SDN_ALLOCATE = 'SDN.Allocate';
export const SYS_AUDIT = 'Sys.Audit';

function parent(path: string): string | null {
  if (path === '/') return null;
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/**
 * Whether `priv` holds on `path`: the entry for the path itself if the server listed it, else
 * the nearest listed ancestor, if the privilege propagates from there.
 */
export function can(perms: Permissions, path: string, priv: string): boolean {
  if (perms[path]) return perms[path][priv] !== undefined;
  for (let p = parent(path); p !== null; p = parent(p)) {
    const here = perms[p];
    if (here) return here[priv] === 1;
  }
  return false;
}

/** Whether `priv` holds on `path` or anywhere below it (e.g. some zone the user may edit). */
export function canSomewhere(perms: Permissions, path: string, priv: string): boolean {
  if (can(perms, path, priv)) return true;
  const prefix = path === '/' ? '/' : `${path}/`;
  return Object.entries(perms).some(([p, privs]) => p.startsWith(prefix) && privs[priv] !== undefined);
}
