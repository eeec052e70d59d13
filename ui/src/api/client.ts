// The one HTTP client of the UI: PVE's JSON API under /api2/json, authenticated with the
// ticket cookie (PVEAuthCookie) and the CSRFPreventionToken header on every non-GET request.

export type Params = Record<string, string | number | boolean | undefined | null>;

/** A refused request, as sdnd (and PVE) report it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** 400: parameter -> message. */
    readonly errors: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Transport {
  csrf: string | null;
  /** Counts sessions: a 401 for a request of an earlier session says nothing about this one. */
  epoch: number;
  onUnauthorized?: (epoch: number) => void;
}

export const transport: Transport = { csrf: null, epoch: 0 };

function encode(params: Params): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    search.append(key, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  return search.toString();
}

/** The path of an API call; each segment is escaped (subnet ids contain no '/', CIDRs do). */
export function apiPath(...segments: string[]): string {
  return segments.map((s) => s.split('/').map(encodeURIComponent).join('/')).join('/');
}

export async function request<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, params: Params = {}): Promise<T> {
  const epoch = transport.epoch;
  const query = encode(params);
  let url = `/api2/json${path}`;
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (method === 'GET' || method === 'DELETE') {
    if (query) url += `?${query}`;
  } else {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = query;
  }
  if (method !== 'GET' && transport.csrf) headers['CSRFPreventionToken'] = transport.csrf;
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, `sdnd can't be reached (${err instanceof Error ? err.message : String(err)})`);
  }
  let payload: { data?: unknown; message?: string; errors?: Record<string, string> } = {};
  try {
    payload = await response.json();
  } catch {
    // An answer without JSON body: the status line says it all.
  }
  if (!response.ok) {
    if (response.status === 401 && path !== '/access/ticket') transport.onUnauthorized?.(epoch);
    const message = payload.message ?? (response.statusText || `HTTP ${response.status}`);
    throw new ApiError(response.status, message, payload.errors ?? {});
  }
  return payload.data as T;
}

export const api = {
  get: <T>(path: string, params?: Params) => request<T>('GET', path, params),
  post: <T>(path: string, params?: Params) => request<T>('POST', path, params),
  put: <T>(path: string, params?: Params) => request<T>('PUT', path, params),
  del: <T>(path: string, params?: Params) => request<T>('DELETE', path, params),
};
