import { render } from 'preact';
import { afterEach, describe, expect, it } from 'vitest';
import { ChangeList, FileDiff } from '../src/components/Diff';
import { LockBanner } from '../src/components/LockBanner';
import { formParams, toInput } from '../src/components/ObjectForm';
import { lockView } from '../src/model/lock';
import { objectChange } from '../src/model/pending';
import type { Field } from '../src/model/schema';

let root: HTMLElement;
function mount(node: preact.ComponentChild): HTMLElement {
  root = document.createElement('div');
  document.body.appendChild(root);
  render(node, root);
  return root;
}
afterEach(() => {
  render(null, root);
  root.remove();
});

const actions = { lock: async () => {}, release: async () => {}, forceRelease: async () => {} };

describe('LockBanner', () => {
  it('says "Not locked" and offers Lock to users who may', () => {
    const el = mount(<LockBanner view={lockView({ locked: 0 }, null, 'root@pam')} now={0} mayLock pendingCount={0} actions={actions} />);
    expect(el.querySelector('.lock-title')!.textContent).toBe('Not locked');
    expect([...el.querySelectorAll('button')].map((b) => b.textContent)).toEqual(['Lock']);
  });

  it('offers Release to the holding session, Force release to others, nothing to read-only users', () => {
    const status = { locked: 1 as const, holder: 'root@pam', since: 100, expires: null, comment: 'why not' };
    let el = mount(<LockBanner view={lockView(status, { token: 't', holder: 'root@pam', since: 100 }, 'root@pam')} now={200} mayLock pendingCount={0} actions={actions} />);
    expect([...el.querySelectorAll('button')].map((b) => b.textContent)).toEqual(['Release']);
    render(null, root);
    el = mount(<LockBanner view={lockView(status, null, 'alice@pve')} now={200} mayLock pendingCount={0} actions={actions} />);
    expect(el.querySelector('.lock-title')!.textContent).toBe('Locked by root@pam');
    expect(el.textContent).toContain('why: why not');
    expect([...el.querySelectorAll('button')].map((b) => b.textContent)).toEqual(['Force release']);
    render(null, root);
    el = mount(<LockBanner view={lockView(status, null, 'aud@pve')} now={200} mayLock={false} pendingCount={0} actions={actions} />);
    expect(el.querySelectorAll('button').length).toBe(0);
    expect(el.textContent).toContain('Locked by root@pam');
  });
});

describe('ChangeList', () => {
  it('marks each object and property by text as well as colour', () => {
    const change = objectChange('vnets', { vnet: 'v1', zone: 'z1', tag: 1, alias: 'a', state: 'changed', pending: { tag: 2, alias: 'deleted' } })!;
    const el = mount(<ChangeList changes={[change]} />);
    expect(el.querySelector('.badge-changed')!.textContent).toBe('~ changed');
    const rows = [...el.querySelectorAll('tbody tr')].map((r) => [r.className, r.querySelector('.prop-mark')!.getAttribute('aria-label'), r.querySelector('th')!.textContent]);
    expect(rows).toEqual([['prop-removed', 'removed', 'Alias alias'], ['prop-changed', 'changed', 'Tag tag']]);
    expect(el.querySelector('.prop-changed del')!.textContent).toBe('1');
    expect(el.querySelector('.prop-changed ins')!.textContent).toBe('2');
  });

  it('masks credentials in the diff', () => {
    const change = objectChange('dns', { dns: 'pdns', type: 'powerdns', state: 'new', pending: { url: 'https://dns', key: 'SECRET' } })!;
    const el = mount(<ChangeList changes={[change]} />);
    expect(el.textContent).not.toContain('SECRET');
    expect(el.textContent).toContain('https://dns');
  });

  it('says so when nothing is pending', () => {
    expect(mount(<ChangeList changes={[]} />).textContent).toContain('No pending changes');
  });

  it('renders file diffs line by line', () => {
    const el = mount(<FileDiff title="sdn" diff={'+auto vnet1\n-x\n'} />);
    expect(el.querySelector('.diff-add')!.textContent).toBe('+auto vnet1\n');
    expect(el.querySelector('.diff-del')!.textContent).toBe('-x\n');
  });
});

describe('form parameters', () => {
  const fields: Field[] = [
    { name: 'tag', label: 'Tag', type: 'int' },
    { name: 'alias', label: 'Alias', type: 'text' },
    { name: 'vlanaware', label: 'VLAN aware', type: 'bool' },
  ];
  it('a create sends the filled fields only', () => {
    expect(formParams(fields, { tag: '100', alias: ' ', vlanaware: '1' }, null)).toEqual({ tag: '100', vlanaware: 1 });
  });
  it('an edit sends what changed and deletes what was emptied', () => {
    const original = { tag: '100', alias: 'x', vlanaware: '1' };
    expect(formParams(fields, { tag: '100', alias: '', vlanaware: '' }, original)).toEqual({ delete: 'alias,vlanaware' });
    expect(formParams(fields, { tag: '7', alias: 'x', vlanaware: '1' }, original)).toEqual({ tag: '7' });
  });
  it('an edit leaving a credential empty keeps it (the server never returns it)', () => {
    const secretFields: Field[] = [
      { name: 'url', label: 'URL', type: 'text', required: true },
      { name: 'token', label: 'Token', type: 'text', required: true, secret: true },
    ];
    // As loaded from a GET: the token is absent.
    const original = { url: 'https://nb/api', token: toInput(secretFields[1]!, undefined) };
    expect(formParams(secretFields, { url: 'https://nb2/api', token: '' }, original)).toEqual({ url: 'https://nb2/api' });
    expect(formParams(secretFields, { url: 'https://nb/api', token: 'new' }, original)).toEqual({ token: 'new' });
  });
  it('shows API values in inputs', () => {
    expect(toInput(fields[2]!, 1)).toBe('1');
    expect(toInput(fields[0]!, ['a', 'b'])).toBe('a,b');
    expect(toInput(fields[1]!, undefined)).toBe('');
  });
});
