import { useState } from 'preact/hooks';
import type { SdnEntry } from '../api/types';
import { errorText } from '../model/errors';
import { STATE_MARK } from '../model/pending';
import { can, SDN_ALLOCATE } from '../model/perms';
import { aclPath, entryId, fieldsOf, formatValue, isProperty, KINDS, type KindName } from '../model/schema';
import { href } from '../route';
import * as store from '../store';
import { ChangeButton } from './Actions';
import { Confirm } from './Dialog';
import type { FormTarget } from './ObjectForm';

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
  if (kind === 'zones') return href('zones', id);
  if (kind === 'vnets') return href('vnets', id);
  return null;
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
  // The columns: the first type's fields that most objects have, at most four.
  const columns = Array.from(new Set(props.entries.flatMap((e) => Object.keys(currentValues(e)).filter((k) => isProperty(kind, k)))))
    .sort((a, b) => order(kind, a) - order(kind, b))
    .slice(0, 4);

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

  return (
    <div class="table-wrap">
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
                {columns.map((c) => <td>{formatValue(values[c])}</td>)}
                {def.inRunning && <td><StateBadge state={entry.state} /></td>}
                <td class="row-actions">
                  {entry.state !== 'deleted' && (
                    <>
                      <ChangeButton allowed={mayEdit} blocked={props.blocked} label={`Edit ${def.label} ${id}`}
                        onClick={() => props.onEdit({ kind, id, parent: props.parent })}>Edit</ChangeButton>
                      <ChangeButton allowed={mayEdit} blocked={props.blocked} danger label={`Remove ${def.label} ${id}`}
                        onClick={() => { setError(null); setDeleting(id); }}>Remove</ChangeButton>
                    </>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {deleting !== null && (
        <Confirm title={`Remove ${def.label} ${deleting}`} confirm="Remove" danger busy={busy} error={error}
          onClose={() => setDeleting(null)} onConfirm={() => remove(deleting)}>
          <p>Remove {def.label.toLowerCase()} <strong>{deleting}</strong>? {def.inRunning ? 'The removal is pending until you apply.' : ''}</p>
        </Confirm>
      )}
    </div>
  );
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
            <td>{formatValue(values[n])}{changed.has(n) && entry.state === 'changed' && <span class="badge badge-changed">~ pending</span>}</td>
          </tr>
        ))}
        <tr><th scope="row">State</th><td><StateBadge state={entry.state} /></td></tr>
      </tbody>
    </table>
  );
}
