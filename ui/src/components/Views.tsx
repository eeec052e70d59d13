import { useEffect, useState } from 'preact/hooks';
import type { DryRun } from '../api/types';
import { errorText } from '../model/errors';
import { duration } from '../model/lock';
import { summarize } from '../model/pending';
import { can, canSomewhere, SDN_ALLOCATE, SYS_AUDIT } from '../model/perms';
import { entryId, KINDS, type KindName } from '../model/schema';
import { go, href } from '../route';
import * as store from '../store';
import { ChangeButton } from './Actions';
import { ChangeList, FileDiff } from './Diff';
import { Confirm } from './Dialog';
import type { FormTarget } from './ObjectForm';
import { currentValues, ObjectTable, PropertyTable } from './Tables';

export interface ViewProps {
  s: store.State;
  blocked: string | null;
  onEdit: (t: FormTarget) => void;
}

export function KindView(props: ViewProps & { kind: Exclude<KindName, 'subnets'> }) {
  const { kind, s } = props;
  const def = KINDS[kind];
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h2 id="view-title">{def.plural}</h2>
        <div class="toolbar">
          <ChangeButton allowed={canSomewhere(s.perms, `/sdn/${kind === 'vnets' ? 'zones' : kind}`, SDN_ALLOCATE)} blocked={props.blocked} primary
            onClick={() => props.onEdit({ kind })}>Create {def.label}</ChangeButton>
        </div>
      </header>
      <ObjectTable kind={kind} entries={s.lists[kind]} caption={def.plural} blocked={props.blocked} onEdit={props.onEdit} />
    </section>
  );
}

export function ZoneView(props: ViewProps & { id: string }) {
  const { s, id } = props;
  const zone = s.lists.zones.find((z) => entryId('zones', z) === id);
  if (!zone) return <NotFound what={`Zone ${id}`} loaded={s.loaded} />;
  const vnets = s.lists.vnets.filter((v) => currentValues(v).zone === id || v.zone === id);
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h2 id="view-title">Zone {id} <span class="subtle">({String(zone.type)})</span></h2>
        <div class="toolbar">
          <ChangeButton allowed={can(s.perms, `/sdn/zones/${id}`, SDN_ALLOCATE)} blocked={props.blocked}
            onClick={() => props.onEdit({ kind: 'zones', id })}>Edit zone</ChangeButton>
          <ChangeButton allowed={can(s.perms, `/sdn/zones/${id}`, SDN_ALLOCATE)} blocked={props.blocked} primary
            onClick={() => props.onEdit({ kind: 'vnets', preset: { zone: id } })}>Create VNet</ChangeButton>
        </div>
      </header>
      <PropertyTable kind="zones" entry={zone} />
      <ObjectTable kind="vnets" entries={vnets} caption={`VNets in ${id}`} blocked={props.blocked} onEdit={props.onEdit} />
    </section>
  );
}

export function VnetView(props: ViewProps & { id: string }) {
  const { s, id } = props;
  const vnet = s.lists.vnets.find((v) => entryId('vnets', v) === id);
  if (!vnet) return <NotFound what={`VNet ${id}`} loaded={s.loaded} />;
  const zone = String(currentValues(vnet).zone ?? '');
  const subnets = s.subnets[id];
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h2 id="view-title">VNet {id} <span class="subtle">in <a href={href('zones', zone)}>{zone}</a></span></h2>
        <div class="toolbar">
          <ChangeButton allowed={can(s.perms, `/sdn/zones/${zone}/${id}`, SDN_ALLOCATE)} blocked={props.blocked}
            onClick={() => props.onEdit({ kind: 'vnets', id })}>Edit VNet</ChangeButton>
          <ChangeButton allowed={can(s.perms, `/sdn/zones/${zone}/${id}`, SDN_ALLOCATE)} blocked={props.blocked} primary
            onClick={() => props.onEdit({ kind: 'subnets', parent: id })}>Create subnet</ChangeButton>
        </div>
      </header>
      <PropertyTable kind="vnets" entry={vnet} />
      {subnets ? <ObjectTable kind="subnets" parent={id} entries={subnets} caption={`Subnets of ${id}`} blocked={props.blocked} onEdit={props.onEdit} />
        : <p role="status">Loading subnets…</p>}
    </section>
  );
}

/** A controller, IPAM or DNS server: its properties, edit and remove. */
export function ObjectView(props: ViewProps & { kind: 'controllers' | 'ipams' | 'dns'; id: string }) {
  const { s, kind, id } = props;
  const def = KINDS[kind];
  const entry = s.lists[kind].find((o) => entryId(kind, o) === id);
  if (!entry) return <NotFound what={`${def.label} ${id}`} loaded={s.loaded} />;
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h2 id="view-title">{def.label} {id} <span class="subtle">({String(entry.type)})</span></h2>
        <div class="toolbar">
          <ChangeButton allowed={can(s.perms, `/sdn/${kind}/${id}`, SDN_ALLOCATE)} blocked={props.blocked}
            onClick={() => props.onEdit({ kind, id })}>Edit {def.label}</ChangeButton>
        </div>
      </header>
      <PropertyTable kind={kind} entry={entry} />
      <p><a href={href(kind)}>All {def.plural}</a></p>
    </section>
  );
}

function NotFound(props: { what: string; loaded: boolean }) {
  return props.loaded ? <p class="msg msg-warn">{props.what} does not exist (any more).</p> : <p role="status">Loading…</p>;
}

export function PendingView(props: ViewProps) {
  const { s } = props;
  const changes = store.changes(s);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [showUnchanged, setShowUnchanged] = useState(false);
  const mayApply = can(s.perms, '/sdn', SDN_ALLOCATE);

  const doApply = async () => {
    setBusy(true);
    setError(null);
    try {
      await store.apply();
      go('task');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const doRollback = async () => {
    setBusy(true);
    setError(null);
    try {
      await store.rollback();
      setConfirm(false);
      store.notify('ok', 'Rolled back: pending equals running again.');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h2 id="view-title">Pending changes</h2>
        <div class="toolbar">
          <ChangeButton allowed={mayApply} blocked={props.blocked ?? (busy ? 'busy' : null)} primary onClick={doApply}>Apply</ChangeButton>
          <ChangeButton allowed={mayApply} blocked={props.blocked ?? (changes.length === 0 ? 'Nothing to roll back' : null)} danger
            onClick={() => { setError(null); setConfirm(true); }}>Rollback</ChangeButton>
        </div>
      </header>
      <p class="summary" data-testid="pending-summary">{summarize(changes)}{!s.subnetsLoaded && ' — subnets still loading'}</p>
      {error && !confirm && <p class="msg msg-error" role="alert">{error}</p>}
      <label class="inline-check"><input type="checkbox" checked={showUnchanged} onChange={(e) => setShowUnchanged(e.currentTarget.checked)} /> Show unchanged properties</label>
      <ChangeList changes={changes} showUnchanged={showUnchanged} />
      <h3>Files per node (dry run)</h3>
      {s.nodes.length === 0 && <p class="empty">No node agent has registered.</p>}
      {s.nodes.map((n) => <NodeDryRun node={n.node} allowed={can(s.perms, `/nodes/${n.node}`, SYS_AUDIT)} stamp={changes} />)}
      {confirm && (
        <Confirm title="Roll back all pending changes" confirm="Rollback" danger busy={busy} error={error} wide
          onClose={() => setConfirm(false)} onConfirm={doRollback}>
          <p>Rollback discards these {changes.length} pending changes; pending becomes equal to running (version {s.nodes[0]?.status?.['running-version'] ?? '—'}). IPAMs and DNS servers are kept.</p>
          <ChangeList changes={changes} />
        </Confirm>
      )}
    </section>
  );
}

function NodeDryRun(props: { node: string; allowed: boolean; stamp: unknown }) {
  const [diff, setDiff] = useState<DryRun | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!props.allowed) return;
    let live = true;
    store.dryRun(props.node).then((d) => live && (setDiff(d), setError(null)), (err) => live && setError(errorText(err)));
    return () => { live = false; };
  }, [props.node, props.stamp]);
  return (
    <details class="node-dry-run" open>
      <summary>Node {props.node}</summary>
      {!props.allowed ? <p class="empty">Needs Sys.Audit on /nodes/{props.node}.</p>
        : error ? <p class="msg msg-error">{error}</p>
        : !diff ? <p role="status">Loading…</p>
        : <>
          <FileDiff title="/etc/network/interfaces.d/sdn" diff={diff['interfaces-diff']} />
          <FileDiff title="/etc/frr/frr.conf" diff={diff['frr-diff']} />
        </>}
    </details>
  );
}

type NodeProgress = { node: string; state: 'waiting' | 'ok' | 'failed'; text: string };

/** Each node's progress towards the version an apply made. */
export function progress(s: store.State): NodeProgress[] {
  const task = s.task;
  if (!task) return [];
  return s.nodes.map((n): NodeProgress => {
    const st = n.status;
    if (!st) return { node: n.node, state: 'waiting', text: n.error ?? 'no report yet' };
    const target = task.version ?? st['running-version'];
    if (st.version !== null && st.version >= target && st.status !== 'error') return { node: n.node, state: 'ok', text: `OK (version ${st.version})` };
    if (st.status === 'error') return { node: n.node, state: 'failed', text: `failed: ${st.error ?? 'unknown error'}` };
    return { node: n.node, state: 'waiting', text: `waiting (has version ${st.version ?? 'none'}, applying ${target})` };
  });
}

export function TaskPanel(props: { s: store.State }) {
  const task = props.s.task;
  if (!task) return <p class="empty">No apply task in this session. Apply from <a href={href('pending')}>Pending changes</a>.</p>;
  const stopped = task.status?.status === 'stopped';
  const exit = task.status?.exitstatus;
  const rows = progress(props.s);
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h2 id="view-title">Apply task</h2>
        <div class="toolbar"><button type="button" onClick={store.dismissTask}>Close</button></div>
      </header>
      <p class="upid"><code>{task.upid}</code></p>
      <p role="status" aria-live="polite" class={`task-state ${stopped ? (exit === 'OK' ? 'ok' : 'failed') : 'running'}`} data-testid="task-state">
        {stopped ? (exit === 'OK' ? '✔ Task finished: OK' : `✘ Task failed: ${exit}`) : '… Task running'}
      </p>
      {task.error && <p class="msg msg-error">{task.error}</p>}
      <table class="objects">
        <caption>Nodes</caption>
        <thead><tr><th scope="col">Node</th><th scope="col">Status</th></tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr class={`node-${r.state}`} data-node={r.node}>
              <th scope="row">{r.node}</th>
              <td><span class={`badge badge-node-${r.state}`}>{r.state === 'ok' ? '✔' : r.state === 'failed' ? '✘' : '…'} {r.text}</span></td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Task log</h3>
      <pre class="task-log" aria-live="polite">{task.log.map((l) => `${l.t}\n`).join('')}</pre>
    </section>
  );
}

function when(epoch: number | null | undefined): string {
  if (!epoch) return '—';
  return `${new Date(epoch * 1000).toLocaleString()} (${duration(Date.now() / 1000 - epoch)} ago)`;
}

function NodeStatusBadge({ status }: { status: string }) {
  const mark = status === 'available' ? '✔' : status === 'error' ? '✘' : '…';
  return <span class={`badge badge-status-${status}`}>{mark} {status}</span>;
}

export function NodesView(props: { s: store.State; embedded?: boolean }) {
  const { s } = props;
  const Heading = props.embedded ? 'h3' : 'h2';
  const titleId = props.embedded ? 'nodes-title' : 'view-title';
  return (
    <section aria-labelledby={titleId}>
      <header class="view-head"><Heading id={titleId}>Nodes</Heading>
        <div class="toolbar"><button type="button" onClick={() => void store.refreshNodes()}>Refresh</button></div></header>
      <div class="table-wrap">
        <table class="objects">
          <caption>Node agents <span class="count">({s.nodes.length})</span></caption>
          <thead><tr><th scope="col">Node</th><th scope="col">Status</th><th scope="col">Applied version</th><th scope="col">Running version</th><th scope="col">Last apply</th><th scope="col">Error</th></tr></thead>
          <tbody>
            {s.nodes.length === 0 && <tr><td colSpan={6} class="empty">No node agent has registered.</td></tr>}
            {s.nodes.map((n) => (
              <tr data-node={n.node}>
                <th scope="row"><a href={href('nodes', n.node)}>{n.node}</a></th>
                <td>{n.status ? <NodeStatusBadge status={n.status.status} /> : n.error}</td>
                <td>{n.status?.version ?? '—'}</td>
                <td>{n.status?.['running-version'] ?? '—'}</td>
                <td>{when(n.status?.time)}</td>
                <td>{n.status?.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function NodeView(props: { s: store.State; id: string }) {
  const n = props.s.nodes.find((x) => x.node === props.id);
  if (!n) return <p class="msg msg-warn">Node {props.id} has no SDN agent registered.</p>;
  return (
    <section aria-labelledby="view-title">
      <header class="view-head"><h2 id="view-title">Node {n.node}</h2></header>
      <table class="props">
        <caption>SDN apply state</caption>
        <tbody>
          <tr><th scope="row">Status</th><td>{n.status ? <NodeStatusBadge status={n.status.status} /> : n.error}</td></tr>
          <tr><th scope="row">Applied version</th><td>{n.status?.version ?? '—'}</td></tr>
          <tr><th scope="row">Running version</th><td>{n.status?.['running-version'] ?? '—'}</td></tr>
          <tr><th scope="row">Last apply</th><td>{when(n.status?.time)}</td></tr>
          <tr><th scope="row">Last result</th><td>{n.status?.error ? `failed: ${n.status.error}` : n.status?.version ? 'OK' : '—'}</td></tr>
        </tbody>
      </table>
      <table class="objects">
        <caption>Zones on {n.node}</caption>
        <thead><tr><th scope="col">Zone</th><th scope="col">Status</th></tr></thead>
        <tbody>
          {n.zones.length === 0 && <tr><td colSpan={2} class="empty">No running zone reaches this node.</td></tr>}
          {n.zones.map((z) => <tr><th scope="row"><a href={href('zones', z.zone)}>{z.zone}</a></th><td><NodeStatusBadge status={z.status} /></td></tr>)}
        </tbody>
      </table>
    </section>
  );
}

export function Overview(props: { s: store.State }) {
  const { s } = props;
  const changes = store.changes(s);
  const failed = s.nodes.filter((n) => n.status?.status === 'error').length;
  return (
    <section aria-labelledby="view-title">
      <header class="view-head"><h2 id="view-title">SDN status</h2></header>
      <ul class="cards">
        <li><a href={href('pending')}><strong>{changes.length}</strong> pending {changes.length === 1 ? 'change' : 'changes'}</a></li>
        <li><a href={href('zones')}><strong>{s.lists.zones.length}</strong> zones</a></li>
        <li><a href={href('vnets')}><strong>{s.lists.vnets.length}</strong> VNets</a></li>
        <li><a href={href('nodes')}><strong>{s.nodes.length}</strong> nodes{failed ? `, ${failed} failed` : ''}</a></li>
      </ul>
      <NodesView s={s} embedded />
    </section>
  );
}
