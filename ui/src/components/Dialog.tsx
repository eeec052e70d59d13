import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef } from 'preact/hooks';

let counter = 0;

/** A modal dialog (native <dialog>: focus stays inside, Escape closes it). */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useRef(`dialog-title-${++counter}`);
  // Focus goes back where it was (the button that opened the dialog) when it closes; read
  // during the first render, before the dialog takes the focus.
  const openerRef = useRef(document.activeElement instanceof HTMLElement ? document.activeElement : null);
  useLayoutEffect(() => {
    const dialog = ref.current;
    const opener = openerRef.current;
    if (dialog && !dialog.open && typeof dialog.showModal === 'function') dialog.showModal();
    return () => {
      if (dialog?.open) dialog.close?.();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <dialog ref={ref} class={props.wide ? 'wide' : ''} aria-labelledby={id.current}
      onCancel={(e) => { e.preventDefault(); props.onClose(); }}>
      <header class="dialog-head">
        <h2 id={id.current}>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={props.onClose}>×</button>
      </header>
      <div class="dialog-body">{props.children}</div>
    </dialog>
  );
}

/** A yes/no question; `confirm` names the action ("Force release", "Rollback"). */
export function Confirm(props: {
  title: string;
  confirm: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
}) {
  return (
    <Dialog title={props.title} onClose={props.onClose} wide={props.wide}>
      {props.children}
      {props.error && <p class="msg msg-error" role="alert">{props.error}</p>}
      <div class="dialog-buttons">
        <button type="button" onClick={props.onClose}>Cancel</button>
        <button type="button" class={props.danger ? 'danger' : 'primary'} disabled={props.busy} onClick={props.onConfirm}>{props.confirm}</button>
      </div>
    </Dialog>
  );
}
