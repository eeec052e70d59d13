// The pending changes, as a diff against running: computed from the API's pending view
// (`pending=1`: running values at top level, differing current values under `pending`,
// removed ones as "deleted", and a `state` of new/changed/deleted).

import type { SdnEntry } from '../api/types';
import { entryId, formatValue, isProperty, type KindName, RUNNING_KINDS } from './schema';

export type PropChangeKind = 'added' | 'changed' | 'removed' | 'unchanged';

export interface PropChange {
  name: string;
  change: PropChangeKind;
  before?: string;
  after?: string;
}

export interface ObjectChange {
  kind: KindName;
  id: string;
  state: 'new' | 'changed' | 'deleted';
  type?: string;
  /** The vnet of a subnet, the zone of a vnet: where the object sits in the tree. */
  parent?: string;
  props: PropChange[];
}

/** The removal marker the pending view uses for a property that current no longer has. */
const REMOVED = 'deleted';

/** One object's change, or null if it has none. */
export function objectChange(kind: KindName, entry: SdnEntry): ObjectChange | null {
  const state = entry.state;
  if (!state) return null;
  const pending = entry.pending ?? {};
  const props: PropChange[] = [];
  const names = new Set<string>();
  for (const key of Object.keys(entry)) if (isProperty(kind, key)) names.add(key);
  for (const key of Object.keys(pending)) if (isProperty(kind, key)) names.add(key);
  for (const name of [...names].sort()) {
    const running = entry[name];
    const hasPending = Object.prototype.hasOwnProperty.call(pending, name);
    const current = pending[name];
    // The subnet view always carries a (possibly empty) dhcp-range list from running.
    const runningSet = running !== undefined && !(Array.isArray(running) && running.length === 0);
    if (state === 'new') {
      if (hasPending) props.push({ name, change: 'added', after: formatValue(current) });
    } else if (state === 'deleted') {
      if (runningSet) props.push({ name, change: 'removed', before: formatValue(running) });
    } else if (hasPending && current === REMOVED) {
      props.push({ name, change: 'removed', before: formatValue(running) });
    } else if (hasPending && !runningSet) {
      props.push({ name, change: 'added', after: formatValue(current) });
    } else if (hasPending && formatValue(current) !== formatValue(running)) {
      props.push({ name, change: 'changed', before: formatValue(running), after: formatValue(current) });
    } else if (runningSet) {
      props.push({ name, change: 'unchanged', before: formatValue(running), after: formatValue(running) });
    }
  }
  const parent = kind === 'subnets' ? String(entry.vnet ?? '') : kind === 'vnets' ? formatValue(pending.zone ?? entry.zone) : undefined;
  return { kind, id: entryId(kind, entry), state, type: entry.type, parent, props };
}

export type PendingLists = Partial<Record<KindName, SdnEntry[]>>;

/** Every pending change, in the order kinds appear in the tree. */
export function pendingChanges(lists: PendingLists): ObjectChange[] {
  const changes: ObjectChange[] = [];
  for (const kind of RUNNING_KINDS) {
    for (const entry of lists[kind] ?? []) {
      const change = objectChange(kind, entry);
      if (change) changes.push(change);
    }
  }
  return changes;
}

/** Text marks that say what colour also says, for screen readers and colour-blind eyes. */
export const STATE_MARK: Record<ObjectChange['state'], { sign: string; word: string }> = {
  new: { sign: '+', word: 'new' },
  changed: { sign: '~', word: 'changed' },
  deleted: { sign: '−', word: 'deleted' },
};

export const PROP_MARK: Record<PropChangeKind, { sign: string; word: string }> = {
  added: { sign: '+', word: 'added' },
  changed: { sign: '~', word: 'changed' },
  removed: { sign: '−', word: 'removed' },
  unchanged: { sign: ' ', word: 'unchanged' },
};

export function summarize(changes: ObjectChange[]): string {
  if (changes.length === 0) return 'No pending changes';
  const count = (s: ObjectChange['state']) => changes.filter((c) => c.state === s).length;
  const parts = (['new', 'changed', 'deleted'] as const).filter((s) => count(s) > 0).map((s) => `${count(s)} ${s}`);
  return `${changes.length} pending ${changes.length === 1 ? 'change' : 'changes'} (${parts.join(', ')})`;
}

/** One line of a unified diff, classified for display. */
export interface DiffLine {
  text: string;
  change: 'add' | 'del' | 'hunk' | 'meta' | 'context';
}

export function classifyDiff(diff: string): DiffLine[] {
  return diff.replace(/\n$/, '').split('\n').map((text) => {
    if (text.startsWith('+++') || text.startsWith('---')) return { text, change: 'meta' as const };
    if (text.startsWith('@@')) return { text, change: 'hunk' as const };
    if (text.startsWith('+')) return { text, change: 'add' as const };
    if (text.startsWith('-')) return { text, change: 'del' as const };
    return { text, change: 'context' as const };
  });
}
