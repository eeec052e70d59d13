import { useState } from 'preact/hooks';
import { errorText } from '../model/errors';
import { banner, type LockView } from '../model/lock';
import { Confirm, Dialog } from './Dialog';

export interface LockActions {
  lock: (p: { ttl?: number; comment?: string; allowPending: boolean }) => Promise<void>;
  release: () => Promise<void>;
  forceRelease: () => Promise<void>;
}

const TTLS: { label: string; seconds?: number }[] = [
  { label: 'No expiry' },
  { label: '15 minutes', seconds: 900 },
  { label: '1 hour', seconds: 3600 },
  { label: '4 hours', seconds: 14400 },
  { label: '1 day', seconds: 86400 },
];

/** The global lock, always in view: who holds it, since and until when, why; and the buttons. */
export function LockBanner(props: { view: LockView; now: number; mayLock: boolean; pendingCount: number; actions: LockActions }) {
  const { view } = props;
  const b = banner(view, props.now);
  const [dialog, setDialog] = useState<'lock' | 'force' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      setDialog(null);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class={`lock-banner tone-${b.tone}`} aria-label="SDN lock" data-lock-state={view.state}>
      <LockIcon open={view.state !== 'mine' && view.state !== 'other'} />
      <div class="lock-text" role="status" aria-live="polite">
        <strong class="lock-title">{b.title}</strong>
        {b.details.map((d) => <span class="lock-detail">{d}</span>)}
      </div>
      {error && !dialog && <p class="msg msg-error lock-error" role="alert">{error}</p>}
      {props.mayLock && (
        <div class="lock-buttons">
          {view.state === 'unlocked' && <button type="button" onClick={() => { setError(null); setDialog('lock'); }}>Lock</button>}
          {view.state === 'mine' && <button type="button" disabled={busy} onClick={() => run(props.actions.release)}>Release</button>}
          {view.state === 'other' && <button type="button" class="danger" onClick={() => { setError(null); setDialog('force'); }}>Force release</button>}
        </div>
      )}
      {dialog === 'lock' && (
        <LockDialog pendingCount={props.pendingCount} busy={busy} error={error} onClose={() => setDialog(null)}
          onLock={(p) => run(() => props.actions.lock(p))} />
      )}
      {dialog === 'force' && view.state === 'other' && (
        <Confirm title="Force release the SDN lock" confirm="Force release" danger busy={busy} error={error}
          onClose={() => setDialog(null)} onConfirm={() => run(props.actions.forceRelease)}>
          <p>The lock is held by <strong>{view.holder}</strong>{view.comment ? <> ({view.comment})</> : null}.</p>
          <p>Releasing it by force makes <strong>{view.holder}</strong>'s lock token stop working: their next change,
            apply or rollback is refused. Their pending changes stay.</p>
        </Confirm>
      )}
    </section>
  );
}

function LockDialog(props: { pendingCount: number; busy: boolean; error: string | null; onClose: () => void; onLock: (p: { ttl?: number; comment?: string; allowPending: boolean }) => void }) {
  const [ttl, setTtl] = useState(0);
  const [comment, setComment] = useState('');
  const [allowPending, setAllowPending] = useState(props.pendingCount > 0);
  return (
    <Dialog title="Lock the SDN configuration" onClose={props.onClose}>
      <form onSubmit={(e) => { e.preventDefault(); props.onLock({ ttl: TTLS[ttl]?.seconds, comment: comment.trim(), allowPending }); }}>
        <p>While this session holds the lock, nobody else can change, apply or roll back the SDN configuration.</p>
        <div class="field">
          <label for="lock-ttl">Expires after</label>
          <select id="lock-ttl" value={ttl} onChange={(e) => setTtl(Number(e.currentTarget.value))}>
            {TTLS.map((t, i) => <option value={i}>{t.label}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="lock-comment">Comment</label>
          <input id="lock-comment" value={comment} maxLength={256} onInput={(e) => setComment(e.currentTarget.value)} placeholder="why you lock (shown to others)" />
        </div>
        <div class="field check">
          <input id="lock-allow-pending" type="checkbox" checked={allowPending} onChange={(e) => setAllowPending(e.currentTarget.checked)} />
          <label for="lock-allow-pending">Lock with pending changes ({props.pendingCount})</label>
        </div>
        {props.error && <p class="msg msg-error" role="alert">{props.error}</p>}
        <div class="dialog-buttons">
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={props.busy}>Lock</button>
        </div>
      </form>
    </Dialog>
  );
}

function LockIcon({ open }: { open: boolean }) {
  return (
    <svg class="lock-icon" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
      <rect x="4" y="10" width="16" height="11" rx="2" fill="currentColor" />
      <path d={open ? 'M8 10V7a4 4 0 0 1 7.6-1.8' : 'M8 10V7a4 4 0 0 1 8 0v3'} fill="none" stroke="currentColor" stroke-width="2.2" />
    </svg>
  );
}
