import type { ComponentChildren } from 'preact';
import { useRef } from 'preact/hooks';

let counter = 0;

/**
 * A change button: absent when the user may never do this, disabled with the reason
 * (tooltip and, for screen readers, a description) when it can't be done now.
 */
export function ChangeButton(props: { allowed: boolean; blocked: string | null; onClick: () => void; danger?: boolean; primary?: boolean; label?: string; children: ComponentChildren }) {
  const id = useRef(`why-${++counter}`);
  if (!props.allowed) return null;
  return (
    <>
      <button type="button" class={props.danger ? 'danger' : props.primary ? 'primary' : ''} disabled={!!props.blocked}
        title={props.blocked ?? undefined} aria-label={props.label} aria-describedby={props.blocked ? id.current : undefined}
        onClick={props.onClick}>{props.children}</button>
      {props.blocked && <span id={id.current} class="sr-only">{props.blocked}</span>}
    </>
  );
}

/** The visible reason change buttons are disabled while someone else holds the lock. */
export function BlockedNote(props: { blocked: string | null }) {
  if (!props.blocked) return null;
  return <p class="msg msg-warn blocked-note" id="change-blocked">Changes disabled — {props.blocked}</p>;
}
