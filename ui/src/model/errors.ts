// API errors mapped to where a form shows them: a 400's per-parameter messages next to the
// field they name, everything else (lock, stale digest, privileges) above the form.

import { ApiError } from '../api/client';

export interface FormErrors {
  fields: Record<string, string>;
  general: string[];
}

/** `fields`: the parameter names the form shows (the id parameter included). */
export function formErrors(err: unknown, fields: string[]): FormErrors {
  const result: FormErrors = { fields: {}, general: [] };
  if (!(err instanceof ApiError)) {
    result.general.push(err instanceof Error ? err.message : String(err));
    return result;
  }
  const entries = Object.entries(err.errors);
  for (const [param, message] of entries) {
    if (fields.includes(param)) result.fields[param] = message;
    else result.general.push(`${param}: ${message}`);
  }
  if (entries.length === 0) result.general.push(explain(err));
  return result;
}

/** A refusal in words a person can act on. */
export function explain(err: ApiError): string {
  switch (err.status) {
    case 409:
      if (/digest|modified configuration/i.test(err.message)) {
        return `Someone changed this object since you opened it; nothing was overwritten. Reload it and edit again. (${err.message})`;
      }
      return err.message;
    case 423:
      return `Refused by the SDN lock: ${err.message}`;
    case 403:
      return `Not permitted: ${err.message}`;
    case 401:
      return 'Your session has ended: log in again.';
    default:
      return err.message;
  }
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const params = Object.entries(err.errors).map(([p, m]) => `${p}: ${m}`);
    return params.length ? `${err.message} ${params.join('; ')}` : explain(err);
  }
  return err instanceof Error ? err.message : String(err);
}
