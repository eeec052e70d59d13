import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { qualifiedUser } from '../api/session';
import { errorText } from '../model/errors';
import * as store from '../store';

const REALMS = [
  { id: 'pam', label: 'Linux PAM standard authentication' },
  { id: 'pve', label: 'Proxmox VE authentication server' },
];

export function Login({ notice }: { notice: string | null }) {
  const [user, setUser] = useState('');
  const [realm, setRealm] = useState('pam');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await store.login(qualifiedUser(user, realm), password);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401
        ? 'Login failed: wrong user name or password. Please try again.'
        : errorText(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="login-box" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">sdnd — Proxmox VE SDN login</h1>
        {notice && !error && <p class="msg msg-info" role="status">{notice}</p>}
        {error && <p class="msg msg-error" role="alert">{error}</p>}
        <label for="login-user">User name</label>
        <input id="login-user" name="username" autoComplete="username" required value={user}
          onInput={(e) => setUser(e.currentTarget.value)} autoFocus placeholder="user@realm" />
        <label for="login-password">Password</label>
        <input id="login-password" name="password" type="password" autoComplete="current-password" required value={password}
          onInput={(e) => setPassword(e.currentTarget.value)} />
        <label for="login-realm">Realm</label>
        <select id="login-realm" value={realm} onChange={(e) => setRealm(e.currentTarget.value)} disabled={user.includes('@')}
          aria-describedby="realm-help">
          {REALMS.map((r) => <option value={r.id}>{r.label}</option>)}
        </select>
        <p id="realm-help" class="help">{user.includes('@') ? 'The realm is the part after @.' : `Logs in as ${qualifiedUser(user || 'user', realm)}.`}</p>
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Logging in…' : 'Login'}</button>
      </form>
    </main>
  );
}
