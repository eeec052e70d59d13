import { classifyDiff, type ObjectChange, PROP_MARK, STATE_MARK, summarize } from '../model/pending';
import { fieldLabel, isSecret, KINDS } from '../model/schema';

/** Pending changes against running, object by object, property by property. */
export function ChangeList(props: { changes: ObjectChange[]; showUnchanged?: boolean }) {
  if (props.changes.length === 0) return <p class="empty">No pending changes: pending equals running.</p>;
  return (
    <div class="changes">
      <p class="sr-only">{summarize(props.changes)}</p>
      {props.changes.map((c) => (
        <article class={`change state-${c.state}`} aria-label={`${KINDS[c.kind].label} ${c.id}: ${STATE_MARK[c.state].word}`}>
          <h3 class="change-head">
            <span class={`badge badge-${c.state}`}>{STATE_MARK[c.state].sign} {STATE_MARK[c.state].word}</span>
            <span class="change-kind">{KINDS[c.kind].label}</span>
            <span class="change-id">{c.id}</span>
            {c.type && c.kind !== 'vnets' && c.kind !== 'subnets' && <span class="change-type">({c.type})</span>}
            {c.parent && <span class="change-parent">in {c.parent}</span>}
          </h3>
          <table class="prop-diff">
            <caption class="sr-only">Properties of {c.id}</caption>
            <thead><tr><th scope="col"><span class="sr-only">Change</span></th><th scope="col">Property</th><th scope="col">Running</th><th scope="col">Pending</th></tr></thead>
            <tbody>
              {c.props.filter((p) => props.showUnchanged || p.change !== 'unchanged').map((p) => isSecret(c.kind, p.name) ? { ...p, before: p.before && '••••••••', after: p.after && '••••••••' } : p).map((p) => (
                <tr class={`prop-${p.change}`}>
                  <td class="prop-mark" aria-label={PROP_MARK[p.change].word} title={PROP_MARK[p.change].word}>{PROP_MARK[p.change].sign}</td>
                  <th scope="row">{fieldLabel(c.kind, c.type, p.name)} <code class="prop-key">{p.name}</code></th>
                  <td class="prop-before">{p.before !== undefined ? <del>{p.before}</del> : <span class="none">—</span>}</td>
                  <td class="prop-after">{p.after !== undefined ? (p.change === 'unchanged' ? p.after : <ins>{p.after}</ins>) : <span class="none">{p.change === 'removed' ? '(removed)' : '—'}</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </article>
      ))}
    </div>
  );
}

/** A unified diff, each line marked by sign as well as colour. */
export function FileDiff(props: { title: string; diff: string | null }) {
  return (
    <section class="file-diff" aria-label={props.title}>
      <h4>{props.title}</h4>
      {props.diff === null ? <p class="empty">No change.</p> : (
        <pre class="diff">{classifyDiff(props.diff).map((l) => <span class={`diff-${l.change}`}>{l.text}{'\n'}</span>)}</pre>
      )}
    </section>
  );
}
