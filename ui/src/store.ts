// The UI's state and every call it makes to the API. Components read the state and call
// these actions; nothing else talks to the server.

import { useEffect, useState } from 'preact/hooks';
import { api, apiPath, ApiError, type Params, transport } from './api/client';
import * as session from './api/session';
import type { LockStatus, NodeSdnStatus, NodeZoneStatus, Permissions, SdnEntry, TaskLogLine, TaskStatus } from './api/types';
import { type HeldLock, loadHeld, lockView, type LockView, saveHeld, tokenFor } from './model/lock';
import { pendingChanges, type ObjectChange } from './model/pending';
import { can, SDN_ALLOCATE } from './model/perms';
import { entryId, KINDS, type KindName } from './model/schema';

export interface NodeInfo {
  node: string;
  status: NodeSdnStatus | null;
  zones: NodeZoneStatus[];
  error: string | null;
}

export interface TaskView {
  upid: string;
  node: string;
  status: TaskStatus | null;
  log: TaskLogLine[];
  /** The running version the apply made: a node is done once it reports it. */
  version: number | null;
  error: string | null;
}

export interface State {
  session: session.Session | null;
  perms: Permissions;
  lockStatus: LockStatus | null;
  /** The last read of the lock failed (the banner then says it doesn't know). */
  lockFailed: boolean;
  held: HeldLock | null;
  lists: Record<Exclude<KindName, 'subnets'>, SdnEntry[]>;
  /** vnet -> its subnets (pending view); filled after the first paint. */
  subnets: Record<string, SdnEntry[]>;
  subnetsLoaded: boolean;
  loaded: boolean;
  loadError: string | null;
  nodes: NodeInfo[];
  task: TaskView | null;
  notice: { tone: 'ok' | 'error'; text: string } | null;
}

const empty = (): State['lists'] => ({ zones: [], vnets: [], controllers: [], ipams: [], dns: [] });

let state: State = {
  session: null,
  perms: {},
  lockStatus: null,
  lockFailed: false,
  held: null,
  lists: empty(),
  subnets: {},
  subnetsLoaded: false,
  loaded: false,
  loadError: null,
  nodes: [],
  task: null,
  notice: null,
};
const listeners = new Set<() => void>();

export function getState(): State {
  return state;
}

function set(patch: Partial<State>) {
  state = { ...state, ...patch };
  for (const listener of listeners) listener();
}

export function useStore(): State {
  const [, force] = useState(0);
  useEffect(() => {
    const listener = () => force((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return state;
}

// ---- derived ----------------------------------------------------------------------------

export function currentLock(s: State = state): LockView {
  return lockView(s.lockStatus, s.held, s.session?.username ?? '', s.lockFailed);
}

export function mayAllocate(path = '/sdn', s: State = state): boolean {
  return can(s.perms, path, SDN_ALLOCATE);
}

let changesCache: { key: unknown[]; value: ObjectChange[] } | null = null;
export function changes(s: State = state): ObjectChange[] {
  const key = [s.lists.zones, s.lists.vnets, s.lists.controllers, s.subnets];
  if (changesCache && changesCache.key.every((k, i) => k === key[i])) return changesCache.value;
  const value = pendingChanges({ zones: s.lists.zones, vnets: s.lists.vnets, controllers: s.lists.controllers, subnets: Object.values(s.subnets).flat() });
  changesCache = { key, value };
  return value;
}

// ---- session ----------------------------------------------------------------------------

let timers: number[] = [];

function startTimers() {
  stopTimers();
  timers.push(window.setInterval(() => void refreshLock(), 5000));
  timers.push(window.setInterval(() => void refreshConfig(), 15000));
  timers.push(window.setInterval(() => void maybeRenew(), 30000));
  // The subnets digest is only seen in a list that has subnets: while none exist anywhere, a
  // subnet added elsewhere shows up with this slow full refresh (or the next own change).
  timers.push(window.setInterval(() => {
    if (!Object.values(state.subnets).some((list) => list.length > 0)) void refreshSubnets();
  }, 300000));
}

function stopTimers() {
  for (const t of timers) clearInterval(t);
  timers = [];
}

async function maybeRenew() {
  const current = state.session;
  if (!current || !session.renewDue(current, Date.now() / 1000)) return;
  try {
    set({ session: await session.renew(current) });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) endSession('Your session expired: log in again.');
  }
}

function endSession(message: string | null) {
  stopTimers();
  listText.clear();
  session.logout();
  set({ session: null, perms: {}, lockStatus: null, lockFailed: false, lists: empty(), subnets: {}, loaded: false, subnetsLoaded: false, nodes: [], task: null, notice: message ? { tone: 'error', text: message } : null });
}

transport.onUnauthorized = (epoch) => {
  if (state.session && epoch === transport.epoch) endSession('Your session ended (the ticket is no longer valid): log in again.');
};

/** Whether answers to requests started in `epoch` still belong to the current session. */
const live = (epoch: number) => epoch === transport.epoch;

async function begin(s: session.Session) {
  const epoch = transport.epoch;
  set({ session: s, held: loadHeld(), notice: null });
  startTimers();
  const perms = session.permissions().catch((): Permissions => ({}));
  await Promise.all([
    perms.then((p) => live(epoch) && set({ perms: p })),
    refreshLock(),
    refreshConfig(),
  ]);
  void refreshSubnets();
  void refreshNodes();
}

export async function login(username: string, password: string) {
  await begin(await session.login(username, password));
}

export async function resume(): Promise<boolean> {
  const restored = session.restore(Date.now() / 1000);
  if (!restored) return false;
  await begin(restored);
  void maybeRenew();
  return true;
}

export function logout() {
  endSession(null);
}

// ---- reads ------------------------------------------------------------------------------

export async function refreshLock() {
  const epoch = transport.epoch;
  try {
    const lockStatus = await api.get<LockStatus>('/cluster/sdn/lock');
    if (!live(epoch)) return;
    let held = state.held;
    // A lock that is gone (released elsewhere, expired) makes the kept token useless.
    if (held && (!lockStatus.locked || lockStatus.since !== held.since || lockStatus.holder !== held.holder)) {
      held = null;
      saveHeld(null);
    }
    set({ lockStatus, held, lockFailed: false });
  } catch (err) {
    if (live(epoch) && !(err instanceof ApiError && err.status === 401)) set({ lockFailed: true });
  }
}

const LIST_KINDS = ['zones', 'vnets', 'controllers', 'ipams', 'dns'] as const;
const listText = new Map<string, string>();

export async function refreshConfig() {
  const epoch = transport.epoch;
  try {
    const results = await Promise.all(
      LIST_KINDS.map((kind) => api.get<SdnEntry[]>(`/cluster/sdn/${kind}`, KINDS[kind].inRunning ? { pending: 1 } : {})),
    );
    if (!live(epoch)) return;
    // An unchanged list keeps its identity, so the views of 2,000 vnets don't render again.
    const lists = empty();
    LIST_KINDS.forEach((kind, i) => {
      const fresh = results[i] ?? [];
      const text = JSON.stringify(fresh);
      lists[kind] = listText.get(kind) === text ? state.lists[kind] : fresh;
      listText.set(kind, text);
    });
    set({ lists, loaded: true, loadError: null });
    await checkSubnets();
  } catch (err) {
    if (live(epoch) && !(err instanceof ApiError && err.status === 401)) set({ loadError: err instanceof Error ? err.message : String(err), loaded: true });
  }
}

/** The pending and running digests of subnets: they change whenever any subnet does. */
let subnetMarks = '';

async function subnetDigests(): Promise<string> {
  // Any subnets list carries the digest of all subnets; one that has entries shows it.
  const withSubnets = Object.keys(state.subnets).find((v) => (state.subnets[v]?.length ?? 0) > 0);
  const any = state.lists.vnets.find((v) => entryId('vnets', v) === withSubnets) ?? state.lists.vnets[0];
  if (!any) return 'none';
  const path = `/cluster/sdn/vnets/${apiPath(entryId('vnets', any))}/subnets`;
  const [pending, running] = await Promise.all([
    api.get<SdnEntry[]>(path),
    // A vnet not applied yet has no running subnets list: its marks then say so.
    api.get<SdnEntry[]>(path, { running: 1 }).catch(() => [] as SdnEntry[]),
  ]);
  // An apply elsewhere clears the states of zones, vnets and controllers: count them too, for
  // subnets of vnets that weren't running yet (their running list can't be read).
  const { zones, vnets, controllers } = state.lists;
  const states = [zones, vnets, controllers].reduce((n, list) => n + list.filter((o) => o.state).length, 0);
  return `${state.lists.vnets.length}/${pending[0]?.digest ?? '-'}/${running[0]?.digest ?? '-'}/${states}`;
}

async function checkSubnets() {
  if (!state.subnetsLoaded) return;
  try {
    if ((await subnetDigests()) !== subnetMarks) await refreshSubnets();
  } catch {
    // The next refresh tries again.
  }
}

/** Every vnet's subnets, a few requests at a time (the API lists subnets per vnet). */
export async function refreshSubnets() {
  const epoch = transport.epoch;
  const vnets = state.lists.vnets.map((v) => entryId('vnets', v));
  const subnets: Record<string, SdnEntry[]> = {};
  let next = 0;
  const worker = async () => {
    while (next < vnets.length && live(epoch)) {
      const vnet = vnets[next++]!;
      try {
        subnets[vnet] = await api.get<SdnEntry[]>(`/cluster/sdn/vnets/${apiPath(vnet)}/subnets`, { pending: 1 });
      } catch {
        subnets[vnet] = [];
      }
    }
  };
  try {
    subnetMarks = await subnetDigests();
  } catch {
    subnetMarks = '';
  }
  // Four at a time: the browser opens six connections per host, two stay free for the user.
  await Promise.all(Array.from({ length: 4 }, worker));
  if (live(epoch)) set({ subnets, subnetsLoaded: true });
}

export async function refreshNodes() {
  const epoch = transport.epoch;
  try {
    const list = await api.get<{ node: string }[]>('/nodes');
    const nodes = await Promise.all(
      list.map(async ({ node }): Promise<NodeInfo> => {
        try {
          const [status, zones] = await Promise.all([
            api.get<NodeSdnStatus>(`/nodes/${apiPath(node)}/sdn/status`),
            api.get<NodeZoneStatus[]>(`/nodes/${apiPath(node)}/sdn/zones`),
          ]);
          return { node, status, zones, error: null };
        } catch (err) {
          return { node, status: null, zones: [], error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    nodes.sort((a, b) => a.node.localeCompare(b.node));
    if (live(epoch)) set({ nodes });
  } catch (err) {
    if (live(epoch) && !(err instanceof ApiError && err.status === 401)) set({ nodes: [] });
  }
}

export function notify(tone: 'ok' | 'error', text: string) {
  set({ notice: { tone, text } });
}

export function clearNotice() {
  set({ notice: null });
}

// ---- changes ----------------------------------------------------------------------------

/** Sends a change with this session's lock token when it holds the lock. */
async function change<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, params: Params = {}): Promise<T> {
  const token = tokenFor(currentLock(), state.held);
  try {
    return await (method === 'POST' ? api.post<T> : method === 'PUT' ? api.put<T> : api.del<T>)(path, token ? { ...params, 'lock-token': token } : params);
  } catch (err) {
    if (err instanceof ApiError && err.status === 423) void refreshLock();
    // A conflict means the configuration moved on: show what it is now.
    if (err instanceof ApiError && err.status === 409) void refreshConfig();
    throw err;
  }
}

export function collectionPath(kind: KindName, parent?: string): string {
  return kind === 'subnets' ? `/cluster/sdn/vnets/${apiPath(parent ?? '')}/subnets` : `/cluster/sdn/${kind}`;
}

export function objectPath(kind: KindName, id: string, parent?: string): string {
  return `${collectionPath(kind, parent)}/${apiPath(id)}`;
}

async function afterChange(kind: KindName) {
  await refreshConfig();
  if (kind === 'subnets' || kind === 'vnets') await refreshSubnets();
}

export async function createObject(kind: KindName, params: Params, parent?: string) {
  await change('POST', collectionPath(kind, parent), params);
  await afterChange(kind);
}

export async function updateObject(kind: KindName, id: string, params: Params, parent?: string) {
  await change('PUT', objectPath(kind, id, parent), params);
  await afterChange(kind);
}

export async function deleteObject(kind: KindName, id: string, parent?: string) {
  await change('DELETE', objectPath(kind, id, parent));
  await afterChange(kind);
}

/** The object as stored now (current config), with the digest an edit must send. */
export async function readObject(kind: KindName, id: string, parent?: string): Promise<SdnEntry> {
  return api.get<SdnEntry>(objectPath(kind, id, parent));
}

export async function takeLock(params: { ttl?: number; comment?: string; allowPending: boolean }) {
  const token = await api.post<string>('/cluster/sdn/lock', {
    'allow-pending': params.allowPending,
    ttl: params.ttl,
    comment: params.comment || undefined,
  });
  const lockStatus = await api.get<LockStatus>('/cluster/sdn/lock');
  const held = { token, holder: lockStatus.holder ?? '', since: lockStatus.since ?? 0 };
  saveHeld(held);
  set({ lockStatus, held });
}

export async function releaseLock(force: boolean) {
  const token = force ? undefined : state.held?.token;
  try {
    await api.del('/cluster/sdn/lock', force ? { force: 1 } : { 'lock-token': token });
  } finally {
    saveHeld(null);
    set({ held: null });
    await refreshLock();
  }
}

export async function rollback() {
  const token = tokenFor(currentLock(), state.held);
  await change('POST', '/cluster/sdn/rollback');
  if (token) {
    saveHeld(null);
    set({ held: null });
  }
  await Promise.all([refreshLock(), refreshConfig()]);
  await refreshSubnets();
}

/** Applies pending and follows the task until it stops. */
export async function apply(): Promise<string> {
  const token = tokenFor(currentLock(), state.held);
  const upid = await change<string>('PUT', '/cluster/sdn');
  if (token) {
    saveHeld(null);
    set({ held: null });
  }
  const node = upid.split(':')[1] ?? '';
  set({ task: { upid, node, status: null, log: [], version: null, error: null } });
  void followTask(upid, node);
  void refreshLock();
  return upid;
}

async function followTask(upid: string, node: string) {
  const taskPath = `/nodes/${apiPath(node)}/tasks/${encodeURIComponent(upid)}`;
  for (;;) {
    if (state.task?.upid !== upid) return;
    try {
      const [status, log] = await Promise.all([
        api.get<TaskStatus>(`${taskPath}/status`),
        api.get<TaskLogLine[]>(`${taskPath}/log`, { start: 0, limit: 1000 }),
      ]);
      await refreshNodes();
      const version = state.nodes.find((n) => n.status)?.status?.['running-version'] ?? null;
      if (state.task?.upid !== upid) return;
      set({ task: { upid, node, status, log, version, error: null } });
      if (status.status === 'stopped') break;
    } catch (err) {
      if (state.task?.upid !== upid) return;
      set({ task: { ...state.task, error: err instanceof Error ? err.message : String(err) } });
      if (err instanceof ApiError && err.status < 500 && err.status !== 0) break;
    }
    await new Promise((r) => setTimeout(r, 700));
  }
  await refreshConfig();
  await refreshSubnets();
}

export function dismissTask() {
  set({ task: null });
}

export async function dryRun(node: string) {
  return api.get<{ 'frr-diff': string | null; 'interfaces-diff': string | null }>('/cluster/sdn/dry-run', { node });
}
