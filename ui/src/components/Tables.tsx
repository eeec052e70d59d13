import { useCallback, useMemo, useState } from 'preact/hooks';
import type { Permissions } from '../api/types';
import { memo } from './memo';
import type { SdnEntry } from '../api/types';
import { errorText } from '../model/errors';
import { STATE_MARK } from '../model/pending';
import { can, SDN_ALLOCATE } from '../model/perms';
import { aclPath, displayValue, entryId, fieldsOf, isProperty, KINDS, type KindName } from '../model/schema';
import { href } from '../route';
import * as store from '../store';
import { ChangeButton } from './Actions';
import { Confirm } from './Dialog';
import type { FormTarget } from './ObjectForm';

/** Rows shown at first (and per "Show more"). */
const PAGE = 200;

/** The values an object has in pending (current), from a pending-view entry. */
export function currentValues(entry: SdnEntry): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) if (k !== 'pending' && k !== 'state') values[k] = v;
  for (const [k, v] of Object.entries(entry.pending ?? {})) {
    if (v === 'deleted') delete values[k];
    else values[k] = v;
  }
  return values;
}

export function StateBadge({ state }: { state?: SdnEntry['state'] }) {
  if (!state) return <span class="badge badge-applied">applied</span>;
  return <span class={`badge badge-${state}`}>{STATE_MARK[state].sign} {STATE_MARK[state].word}</span>;
}

function link(kind: KindName, id: string): string | null {
  return kind === 'subnets' ? null : href(kind, id);
}

/** The objects of one kind: id, type, the type's main properties, state; edit and delete. */
export function ObjectTable(props: {
  kind: KindName;
  entries: SdnEntry[];
  parent?: string;
  caption: string;
  blocked: string | null;
  onEdit: (t: FormTarget) => void;
}) {
  const { kind } = props;
  const def = KINDS[kind];
  const perms = store.getState().perms;
  const [deleting, setDeleting] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The columns: the properties the objects have, in the schema's order, at most four.
  const columns = useMemoColumns(kind, props.entries);
  const openRemove = useCallback((id: string) => { setError(null); setDeleting(id); }, []);
  const remove = async (id: string) => {
    setBusy(true);
    try {
      await store.deleteObject(kind, id, props.parent);
      setDeleting(null);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  // Big lists (2,000 vnets) are filtered and shown a page at a time: a table that long is
  // slow to lay out and nobody reads it whole.
  const [filter, setFilter] = useState('');
  const [limit, setLimit] = useState(PAGE);
  const matching = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    if (!needle) return props.entries;
    return props.entries.filter((e) => entryId(kind, e).toLowerCase().includes(needle)
      || Object.entries(currentValues(e)).some(([k, v]) => displayValue(kind, k, v).toLowerCase().includes(needle)));
  }, [props.entries, filter, kind]);
  const shown = useMemo(() => matching.slice(0, limit), [matching, limit]);
  const filterId = `filter-${kind}-${props.parent ?? ''}`;

  return (
    <div class="table-wrap">
      {props.entries.length > 10 && (
        <div class="table-tools">
          <label for={filterId}>Filter</label>
          <input id={filterId} type="search" value={filter} placeholder={`${def.idLabel}, zone, alias…`}
            onInput={(e) => { setFilter(e.currentTarget.value); setLimit(PAGE); }} />
          <span class="count" role="status">{matching.length === props.entries.length ? `${matching.length} ${def.plural}` : `${matching.length} of ${props.entries.length} match`}</span>
        </div>
      )}
      <table class="objects" data-kind={kind}>
        <caption>{props.caption} <span class="count">({props.entries.length})</span></caption>
        <thead>
          <tr>
            <th scope="col">{def.idLabel}</th>
            {def.typed && <th scope="col">Type</th>}
            {columns.map((c) => <th scope="col">{fieldsOf(kind, undefined).find((f) => f.name === c)?.label ?? labelAny(kind, c)}</th>)}
            {def.inRunning && <th scope="col">State</th>}
            <th scope="col"><span class="sr-only">Actions</span></th>
          </tr>
        </thead>
        <Rows kind={kind} entries={shown} parent={props.parent} blocked={props.blocked} perms={perms}
          columns={columns.join(',')} onEdit={props.onEdit} onRemove={openRemove} />
      </table>
      {shown.length < matching.length && (
        <p class="more">
          Showing {shown.length} of {matching.length}.{' '}
          <button type="button" onClick={() => setLimit(limit + PAGE)}>Show {Math.min(PAGE, matching.length - shown.length)} more</button>{' '}
          <button type="button" onClick={() => setLimit(matching.length)}>Show all {matching.length}</button>
        </p>
      )}
      {deleting !== null && (
        <Confirm title={`Remove ${def.label} ${deleting}`} confirm="Remove" danger busy={busy} error={error}
          onClose={() => setDeleting(null)} onConfirm={() => remove(deleting)}>
          <p>Remove {def.label.toLowerCase()} <strong>{deleting}</strong>? {def.inRunning ? 'The removal is pending until you apply.' : ''}</p>
        </Confirm>
      )}
    </div>
  );
}

/** The rows, rendered again only when entries, lock, permissions or columns change. */
const Rows = memo((props: {
  kind: KindName;
  entries: SdnEntry[];
  parent?: string;
  blocked: string | null;
  perms: Permissions;
  columns: string;
  onEdit: (t: FormTarget) => void;
  onRemove: (id: string) => void;
}) => {
  const { kind, perms } = props;
  const def = KINDS[kind];
  const columns = props.columns ? props.columns.split(',') : [];
  return (
    <tbody>
      {props.entries.length === 0 && <tr><td colSpan={columns.length + 4} class="empty">No {def.plural.toLowerCase()}.</td></tr>}
      {props.entries.map((entry) => {
        const id = entryId(kind, entry);
        const values = currentValues(entry);
        const target = link(kind, id);
        const mayEdit = can(perms, aclPath(kind, { ...values, ...entry, zone: values.zone }), SDN_ALLOCATE);
        return (
          <tr class={entry.state ? `state-${entry.state}` : ''} data-id={id}>
            <th scope="row">{target ? <a href={target}>{id}</a> : id}</th>
            {def.typed && <td>{String(values.type ?? '')}</td>}
            {columns.map((c) => <td>{displayValue(kind, c, values[c])}</td>)}
            {def.inRunning && <td><StateBadge state={entry.state} /></td>}
            <td class="row-actions">
              {entry.state !== 'deleted' && (
                <>
                  <ChangeButton allowed={mayEdit} blocked={props.blocked} label={`Edit ${def.label} ${id}`}
                    onClick={() => props.onEdit({ kind, id, parent: props.parent })}>Edit</ChangeButton>
                  <ChangeButton allowed={mayEdit} blocked={props.blocked} danger label={`Remove ${def.label} ${id}`}
                    onClick={() => props.onRemove(id)}>Remove</ChangeButton>
                </>
              )}
            </td>
          </tr>
        );
      })}
    </tbody>
  );
});

function useMemoColumns(kind: KindName, entries: SdnEntry[]): string[] {
  return useMemo(() => Array.from(new Set(entries.flatMap((e) => Object.keys(currentValues(e)).filter((k) => isProperty(kind, k)))))
    .sort((a, b) => order(kind, a) - order(kind, b))
    .slice(0, 4), [kind, entries]);
}

function labelAny(kind: KindName, name: string): string {
  return Object.values(KINDS[kind].types).flat().find((f) => f.name === name)?.label ?? name;
}

function order(kind: KindName, name: string): number {
  const all = Object.values(KINDS[kind].types).flat().map((f) => f.name);
  const i = all.indexOf(name);
  return i < 0 ? 999 : i;
}

/** One object's properties as a two-column table (pending values, changes marked). */
export function PropertyTable(props: { kind: KindName; entry: SdnEntry }) {
  const { kind, entry } = props;
  const values = currentValues(entry);
  const changed = new Set(Object.keys(entry.pending ?? {}));
  const names = Object.keys(values).filter((k) => isProperty(kind, k) || k === 'type');
  return (
    <table class="props">
      <caption>Properties</caption>
      <tbody>
        {names.map((n) => (
          <tr class={changed.has(n) && entry.state === 'changed' ? 'prop-changed' : ''}>
            <th scope="row">{labelAny(kind, n) === n && n === 'type' ? 'Type' : labelAny(kind, n)}</th>
            <td>{displayValue(kind, n, values[n])}{changed.has(n) && entry.state === 'changed' && <span class="badge badge-changed">~ pending</span>}</td>
          </tr>
        ))}
        <tr><th scope="row">State</th><td><StateBadge state={entry.state} /></td></tr>
      </tbody>
    </table>
  );
}
