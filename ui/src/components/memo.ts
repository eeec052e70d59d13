import { Component, type ComponentChildren, type FunctionComponent, h } from 'preact';

function shallowEqual(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * A component that renders again only when a prop changes (by identity). Big lists (2,000
 * vnets) would otherwise be diffed on every unrelated state change: a lock poll, a node report.
 */
export function memo<P extends object>(render: FunctionComponent<P>): FunctionComponent<P> {
  class Memo extends Component<P> {
    shouldComponentUpdate(next: P) {
      return !shallowEqual(this.props as Record<string, unknown>, next as Record<string, unknown>);
    }
    render(props: P): ComponentChildren {
      return h(render, props);
    }
  }
  return Memo as unknown as FunctionComponent<P>;
}
