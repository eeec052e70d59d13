// Hash routes: #/zones, #/zones/Z, #/vnets/V, #/controllers[/C], #/ipams[/I], #/dns[/D], #/pending,
// #/nodes, #/nodes/N, #/task. History and audit views join here once the API has them.

import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { view: 'overview' }
  | { view: 'kind'; kind: 'zones' | 'vnets' | 'controllers' | 'ipams' | 'dns' }
  | { view: 'zone'; id: string }
  | { view: 'vnet'; id: string }
  | { view: 'object'; kind: 'controllers' | 'ipams' | 'dns'; id: string }
  | { view: 'pending' }
  | { view: 'nodes' }
  | { view: 'node'; id: string }
  | { view: 'task' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [head, id] = parts;
  switch (head) {
    case 'zones': return id ? { view: 'zone', id } : { view: 'kind', kind: 'zones' };
    case 'vnets': return id ? { view: 'vnet', id } : { view: 'kind', kind: 'vnets' };
    case 'controllers':
    case 'ipams':
    case 'dns': return id ? { view: 'object', kind: head, id } : { view: 'kind', kind: head };
    case 'pending': return { view: 'pending' };
    case 'nodes': return id ? { view: 'node', id } : { view: 'nodes' };
    case 'task': return { view: 'task' };
    default: return { view: 'overview' };
  }
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

export function go(...parts: string[]) {
  location.hash = href(...parts);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
