import { useEffect, useState } from 'preact/hooks';
import { changeBlocked } from '../model/lock';
import { can, SDN_ALLOCATE } from '../model/perms';
import { entryId } from '../model/schema';
import { href, type Route, useRoute } from '../route';
import * as store from '../store';
import type { SdnEntry } from '../api/types';
import { BlockedNote } from './Actions';
import { memo } from './memo';
import { LockBanner } from './LockBanner';
import { Login } from './Login';
import { type FormTarget, ObjectForm } from './ObjectForm';
import { StateBadge, currentValues } from './Tables';
import { KindView, NodesView, NodeView, ObjectView, Overview, PendingView, TaskPanel, VnetView, ZoneView } from './Views';

export function App() {
  const s = store.useStore();
  const [starting, setStarting] = useState(true);
  useEffect(() => {
    store.resume().finally(() => setStarting(false));
  }, []);
  if (starting) return <p class="splash" role="status">Loading…</p>;
  if (!s.session) return <Login notice={s.notice?.text ?? null} />;
  return <Shell s={s} />;
}

function useNow(): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() / 1000), 10000);
    return () => clearInterval(t);
  }, []);
  return now;
}

function Shell({ s }: { s: store.State }) {
  const route = useRoute();
  const now = useNow();
  const [form, setForm] = useState<FormTarget | null>(null);
  const [navOpen, setNavOpen] = useState(false);
  const lock = store.currentLock(s);
  const mayLock = can(s.perms, '/sdn', SDN_ALLOCATE);
  const blocked = changeBlocked(lock, true);
  const changes = store.changes(s);

  useEffect(() => setNavOpen(false), [route]);
  // The tab says it too, for a window in the background.
  useEffect(() => {
    document.title = changes.length ? `sdnd — SDN (${changes.length} pending)` : 'sdnd — SDN';
  }, [changes.length]);

  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to content</a>
      <header class="top" role="banner">
        <button type="button" class="nav-toggle" aria-expanded={navOpen} aria-controls="nav" onClick={() => setNavOpen(!navOpen)}>☰ <span class="sr-only">Menu</span></button>
        <h1 class="brand"><a href="#/">sdnd</a> <span class="crumb">Datacenter › SDN</span></h1>
        <a class={`pending-count${changes.length ? ' has-changes' : ''}`} href={href('pending')} data-testid="pending-count"
          aria-label={`${changes.length} pending ${changes.length === 1 ? 'change' : 'changes'}`}>
          Pending: <strong>{changes.length}</strong>
        </a>
        <span class="user" title="logged in as">{s.session!.username}{!mayLock && <span class="badge badge-ro">read-only</span>}</span>
        <button type="button" onClick={store.logout}>Logout</button>
      </header>
      <LockBanner view={lock} now={now} mayLock={mayLock} pendingCount={changes.length} actions={{
        lock: store.takeLock,
        release: () => store.releaseLock(false),
        forceRelease: () => store.releaseLock(true),
      }} />
      {mayLock && <BlockedNote blocked={blocked} />}
      {s.notice && (
        <p class={`msg ${s.notice.tone === 'ok' ? 'msg-ok' : 'msg-error'} notice`} role={s.notice.tone === 'ok' ? 'status' : 'alert'}>
          {s.notice.text} <button type="button" class="icon" aria-label="Dismiss" onClick={store.clearNotice}>×</button>
        </p>
      )}
      {s.loadError && <p class="msg msg-error" role="alert">Could not load the configuration: {s.loadError}</p>}
      <div class="body">
        <nav id="nav" class={navOpen ? 'open' : ''} aria-label="SDN configuration">
          <Tree zones={s.lists.zones} vnets={s.lists.vnets} nodes={s.nodes} route={route} changeCount={changes.length} hasTask={!!s.task}
            controllers={s.lists.controllers.length} ipams={s.lists.ipams.length} dns={s.lists.dns.length} />
        </nav>
        <main id="main" tabIndex={-1}>
          <View s={s} route={route} blocked={blocked} onEdit={setForm} />
        </main>
      </div>
      {form && <ObjectForm target={form} blocked={blocked} onClose={() => setForm(null)} />}
    </div>
  );
}

function View(props: { s: store.State; route: Route; blocked: string | null; onEdit: (t: FormTarget) => void }) {
  const { route } = props;
  switch (route.view) {
    case 'kind': return <KindView {...props} kind={route.kind} />;
    case 'zone': return <ZoneView {...props} id={route.id} />;
    case 'vnet': return <VnetView {...props} id={route.id} />;
    case 'object': return <ObjectView {...props} kind={route.kind} id={route.id} />;
    case 'pending': return <PendingView {...props} />;
    case 'nodes': return <NodesView s={props.s} />;
    case 'node': return <NodeView s={props.s} id={route.id} />;
    case 'task': return <TaskPanel s={props.s} />;
    default: return <Overview s={props.s} />;
  }
}

function isCurrent(route: Route, view: string, id?: string): boolean {
  if (view === 'kind') return false;
  return route.view === view && (id === undefined || ('id' in route && route.id === id));
}

function NavLink(props: { to: string; current: boolean; children: preact.ComponentChildren }) {
  return <a href={props.to} aria-current={props.current ? 'page' : undefined}>{props.children}</a>;
}

interface TreeProps {
  zones: SdnEntry[];
  vnets: SdnEntry[];
  nodes: store.NodeInfo[];
  route: Route;
  changeCount: number;
  hasTask: boolean;
  controllers: number;
  ipams: number;
  dns: number;
}

/** PVE's resource tree: zones with their vnets, then the other kinds, pending and nodes. */
const Tree = memo(({ zones, vnets: vnetList, nodes, route, changeCount: changes, hasTask, controllers, ipams, dns }: TreeProps) => {
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const vnetsByZone = new Map<string, string[]>();
  const vnetState = new Map<string, ReturnType<typeof currentValues>>();
  for (const v of vnetList) {
    const values = currentValues(v);
    const zone = String(values.zone ?? '');
    const id = entryId('vnets', v);
    vnetsByZone.set(zone, [...(vnetsByZone.get(zone) ?? []), id]);
    vnetState.set(id, v);
  }
  const activeZone = route.view === 'zone' ? route.id : route.view === 'vnet' ? String(currentValues(vnetList.find((v) => entryId('vnets', v) === route.id) ?? {}).zone ?? '') : '';
  const kindLink = (kind: 'zones' | 'vnets' | 'controllers' | 'ipams' | 'dns', label: string, count: number) => (
    <li><NavLink to={href(kind)} current={route.view === 'kind' && route.kind === kind}>{label} <span class="count">{count}</span></NavLink></li>
  );
  return (
    <ul class="tree">
      <li><NavLink to="#/" current={route.view === 'overview'}>Status</NavLink></li>
      <li><NavLink to={href('pending')} current={isCurrent(route, 'pending')}>Pending changes <span class={`count${changes ? ' has-changes' : ''}`}>{changes}</span></NavLink></li>
      <li>
        <NavLink to={href('zones')} current={route.view === 'kind' && route.kind === 'zones'}>Zones <span class="count">{zones.length}</span></NavLink>
        <ul>
          {zones.map((z) => {
            const id = entryId('zones', z);
            const vnets = vnetsByZone.get(id) ?? [];
            const expanded = open[id] ?? id === activeZone;
            return (
              <li>
                <span class="tree-row">
                  <button type="button" class="twisty" aria-expanded={expanded} aria-label={`${expanded ? 'Collapse' : 'Expand'} zone ${id}`}
                    disabled={vnets.length === 0} onClick={() => setOpen({ ...open, [id]: !expanded })}>{vnets.length === 0 ? '·' : expanded ? '▾' : '▸'}</button>
                  <NavLink to={href('zones', id)} current={isCurrent(route, 'zone', id)}>{id}</NavLink>
                  {z.state && <StateBadge state={z.state} />}
                </span>
                {expanded && vnets.length > 0 && (
                  <ul>
                    {vnets.map((v) => (
                      <li><span class="tree-row"><NavLink to={href('vnets', v)} current={isCurrent(route, 'vnet', v)}>{v}</NavLink>
                        {vnetState.get(v)?.state ? <StateBadge state={vnetState.get(v)!.state as 'new'} /> : null}</span></li>
                    ))}
                  </ul>
                )}
              </li>
            );
          })}
        </ul>
      </li>
      {kindLink('vnets', 'VNets', vnetList.length)}
      {kindLink('controllers', 'Controllers', controllers)}
      {kindLink('ipams', 'IPAMs', ipams)}
      {kindLink('dns', 'DNS', dns)}
      <li>
        <NavLink to={href('nodes')} current={isCurrent(route, 'nodes')}>Nodes <span class="count">{nodes.length}</span></NavLink>
        <ul>
          {nodes.map((n) => (
            <li><span class="tree-row"><NavLink to={href('nodes', n.node)} current={isCurrent(route, 'node', n.node)}>{n.node}</NavLink>
              {n.status && <span class={`dot dot-${n.status.status}`} aria-label={n.status.status} title={n.status.status}>{n.status.status === 'available' ? '✔' : n.status.status === 'error' ? '✘' : '…'}</span>}</span></li>
          ))}
        </ul>
      </li>
      {hasTask && <li><NavLink to={href('task')} current={isCurrent(route, 'task')}>Apply task</NavLink></li>}
    </ul>
  );
});
