// What the API answers, as far as the UI reads it.

/** An object of a list or read; with `pending=1` also `state` and `pending`. */
export interface SdnEntry {
  [prop: string]: unknown;
  type?: string;
  digest?: string;
  state?: 'new' | 'changed' | 'deleted';
  pending?: Record<string, unknown>;
}

export interface LockStatus {
  locked: 0 | 1;
  holder?: string;
  since?: number;
  expires?: number | null;
  comment?: string | null;
}

export interface TicketAnswer {
  username: string;
  ticket: string;
  CSRFPreventionToken: string;
  cap?: Record<string, Record<string, number>>;
}

/** `GET /access/permissions`: path -> privilege -> propagates (0/1). */
export type Permissions = Record<string, Record<string, number>>;

export interface NodeListEntry {
  node: string;
}

/** `GET /nodes/{node}/sdn/status` */
export interface NodeSdnStatus {
  node: string;
  version: number | null;
  'running-version': number;
  attempted?: number | null;
  time?: number | null;
  status: string;
  error?: string | null;
}

export interface NodeZoneStatus {
  zone: string;
  status: string;
}

export interface TaskStatus {
  upid: string;
  node: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
  starttime?: number;
  type?: string;
  user?: string;
}

export interface TaskLogLine {
  n: number;
  t: string;
}

export interface DryRun {
  'frr-diff': string | null;
  'interfaces-diff': string | null;
}
