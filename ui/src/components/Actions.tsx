import type { ComponentChildren } from 'preact';

/**
 * A change button: absent when the user may never do this, disabled with the reason
 * (tooltip and, for screen readers, a description) when the lock forbids it now.
 */
export function ChangeButton(props: { allowed: boolean; blocked: string | null; onClick: () => void; danger?: boolean; primary?: boolean; label?: string; children: ComponentChildren }) {
  if (!props.allowed) return null;
  return (
    <button type="button" class={props.danger ? 'danger' : props.primary ? 'primary' : ''} disabled={!!props.blocked}
      title={props.blocked ?? undefined} aria-label={props.label} aria-describedby={props.blocked ? 'change-blocked' : undefined}
      onClick={props.onClick}>{props.children}</button>
  );
}

/** The visible reason change buttons are disabled (referenced by their aria-describedby). */
export function BlockedNote(props: { blocked: string | null }) {
  if (!props.blocked) return null;
  return <p class="msg msg-warn blocked-note" id="change-blocked">Changes disabled — {props.blocked}</p>;
}
