import { useEffect, useState } from 'preact/hooks';
import type { Params } from '../api/client';
import type { SdnEntry } from '../api/types';
import { type FormErrors, formErrors } from '../model/errors';
import { type Field, fieldsOf, KINDS, type KindName } from '../model/schema';
import * as store from '../store';
import { Dialog } from './Dialog';

type Values = Record<string, string>;

/** An API value as a form field shows it. */
export function toInput(field: Field, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.join(',');
  if (field.type === 'bool') return value === 1 || value === true || value === '1' ? '1' : '';
  return String(value);
}

/**
 * The parameters to send: on create every filled field; on edit the fields whose value
 * changed, and the emptied ones in `delete` (PVE's way to remove a property).
 */
export function formParams(fields: Field[], values: Values, original: Values | null): Params {
  const params: Params = {};
  const remove: string[] = [];
  for (const f of fields) {
    const value = (values[f.name] ?? '').trim();
    const before = original ? (original[f.name] ?? '') : '';
    if (original && value === before) continue;
    if (value === '') {
      if (original && before !== '') remove.push(f.name);
      continue;
    }
    params[f.name] = f.type === 'bool' ? 1 : value;
  }
  if (remove.length) params.delete = remove.join(',');
  return params;
}

export interface FormTarget {
  kind: KindName;
  /** Edit this object; absent: create one. */
  id?: string;
  /** The vnet of a subnet. */
  parent?: string;
  /** Preset values for a new object (e.g. the zone of a new vnet). */
  preset?: Values;
}

export function ObjectForm(props: { target: FormTarget; blocked: string | null; onClose: () => void }) {
  const { kind, id, parent } = props.target;
  const def = KINDS[kind];
  const editing = id !== undefined;
  const [type, setType] = useState<string>(Object.keys(def.types)[0] ?? '');
  const [values, setValues] = useState<Values>({ ...(props.target.preset ?? {}) });
  const [original, setOriginal] = useState<Values | null>(null);
  const [digest, setDigest] = useState<string | undefined>();
  const [newId, setNewId] = useState('');
  const [errors, setErrors] = useState<FormErrors>({ fields: {}, general: [] });
  const [busy, setBusy] = useState(false);
  const [loading, setLoading] = useState(editing);
  const fields = fieldsOf(kind, type);
  const lists = store.getState().lists;

  useEffect(() => {
    if (!editing) return;
    store.readObject(kind, id, parent).then((entry: SdnEntry) => {
      const t = entry.type && def.types[entry.type] ? entry.type : (Object.keys(def.types)[0] ?? '');
      const loaded: Values = {};
      for (const f of fieldsOf(kind, t)) loaded[f.name] = toInput(f, entry[f.name]);
      setType(t);
      setValues(loaded);
      setOriginal(loaded);
      setDigest(entry.digest);
      setLoading(false);
    }, (err) => {
      setErrors(formErrors(err, []));
      setLoading(false);
    });
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (props.blocked) return;
    setBusy(true);
    setErrors({ fields: {}, general: [] });
    try {
      const params = formParams(fields, values, original);
      if (editing) {
        await store.updateObject(kind, id, { ...params, digest }, parent);
      } else {
        if (def.typed) params.type = type;
        params[def.idParam] = newId.trim();
        await store.createObject(kind, params, parent);
      }
      props.onClose();
    } catch (err) {
      setErrors(formErrors(err, [def.idParam, 'type', ...fields.map((f) => f.name)]));
    } finally {
      setBusy(false);
    }
  };

  const title = editing ? `Edit ${def.label}: ${id}` : `Create ${def.label}${parent ? ` in ${parent}` : ''}`;
  const fieldError = (name: string) => errors.fields[name];

  return (
    <Dialog title={title} onClose={props.onClose}>
      {loading ? <p role="status">Loading…</p> : (
        <form class="object-form" onSubmit={submit} noValidate>
          {errors.general.map((m) => <p class="msg msg-error" role="alert">{m}</p>)}
          {!editing && (
            <FieldRow id={`f-${def.idParam}`} label={def.idLabel} required error={fieldError(def.idParam)} help={def.idHelp}>
              <input id={`f-${def.idParam}`} name={def.idParam} value={newId} required autoFocus
                aria-invalid={fieldError(def.idParam) ? 'true' : undefined}
                aria-describedby={`f-${def.idParam}-note`}
                onInput={(e) => setNewId(e.currentTarget.value)} />
            </FieldRow>
          )}
          {def.typed && (
            <FieldRow id="f-type" label="Type" error={fieldError('type')}>
              <select id="f-type" name="type" value={type} disabled={editing} aria-describedby="f-type-note"
                onChange={(e) => setType(e.currentTarget.value)}>
                {Object.keys(def.types).map((t) => <option value={t}>{t}</option>)}
              </select>
            </FieldRow>
          )}
          {fields.map((f) => (
            <FieldRow id={`f-${f.name}`} label={f.label} required={f.required} error={fieldError(f.name)} help={f.help} check={f.type === 'bool'}>
              <Input field={f} editing={editing} value={values[f.name] ?? ''} invalid={!!fieldError(f.name)} refIds={f.ref ? lists[f.ref as keyof typeof lists]?.map((o) => String(o[KINDS[f.ref!].idParam] ?? '')) : undefined}
                onChange={(v) => setValues({ ...values, [f.name]: v })} />
            </FieldRow>
          ))}
          {props.blocked && <p class="msg msg-warn" id="form-blocked">{props.blocked}</p>}
          <div class="dialog-buttons">
            <button type="button" onClick={props.onClose}>Cancel</button>
            <button type="submit" class="primary" disabled={busy || !!props.blocked} aria-describedby={props.blocked ? 'form-blocked' : undefined}
              title={props.blocked ?? undefined}>{editing ? 'OK' : 'Create'}</button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

function FieldRow(props: { id: string; label: string; required?: boolean; error?: string; help?: string; check?: boolean; children: preact.ComponentChildren }) {
  return (
    <div class={`field${props.check ? ' check' : ''}${props.error ? ' has-error' : ''}`}>
      {props.check && props.children}
      <label for={props.id}>{props.label}{props.required && <span aria-hidden="true"> *</span>}{props.required && <span class="sr-only"> (required)</span>}</label>
      {!props.check && props.children}
      <div id={`${props.id}-note`} class="field-note">
        {props.error && <span class="field-error" role="alert">{props.error}</span>}
        {!props.error && props.help && <span class="help">{props.help}</span>}
      </div>
    </div>
  );
}

function Input(props: { field: Field; editing?: boolean; value: string; invalid: boolean; refIds?: string[]; onChange: (v: string) => void }) {
  const { field } = props;
  const common = {
    id: `f-${field.name}`,
    name: field.name,
    'aria-invalid': props.invalid ? ('true' as const) : undefined,
    'aria-describedby': `f-${field.name}-note`,
    'aria-required': field.required ? ('true' as const) : undefined,
  };
  switch (field.type) {
    case 'bool':
      return <input type="checkbox" {...common} checked={props.value === '1'} onChange={(e) => props.onChange(e.currentTarget.checked ? '1' : '')} />;
    case 'enum':
    case 'ref': {
      const options = field.type === 'enum' ? field.options ?? [] : props.refIds ?? [];
      return (
        <select {...common} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
          <option value="">{field.required ? '— choose —' : '(none)'}</option>
          {options.map((o) => <option value={o}>{o}</option>)}
          {props.value && !options.includes(props.value) && <option value={props.value}>{props.value}</option>}
        </select>
      );
    }
    case 'int':
      return <input {...common} inputMode="numeric" value={props.value} placeholder={field.placeholder} onInput={(e) => props.onChange(e.currentTarget.value)} />;
    default:
      if (field.secret) {
        // The server never returns a credential: empty on edit keeps the stored one.
        return <input {...common} type="password" autoComplete="off" value={props.value}
          placeholder={props.editing ? 'unchanged (stored, not shown)' : undefined} onInput={(e) => props.onChange(e.currentTarget.value)} />;
      }
      return <input {...common} value={props.value} placeholder={field.placeholder} onInput={(e) => props.onChange(e.currentTarget.value)} />;
  }
}
