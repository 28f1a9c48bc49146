import { useEffect } from 'react';
import { useController, useStudio } from '../context';
import type { Notice } from '../store/store';

/** Info notices go by themselves after this long; warnings and errors stay until dismissed. */
export const INFO_NOTICE_MS = 6000;

function NoticeItem({ n }: { n: Notice }) {
  const c = useController();
  useEffect(() => {
    if (n.kind !== 'info') return;
    const t = setTimeout(() => c.store.getState().dismiss(n.id), INFO_NOTICE_MS);
    return () => clearTimeout(t);
  }, [c, n.id, n.kind]);
  return (
    <li className={`notice ${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'} data-kind={n.kind}>
      <span>{n.text}</span>
      <button type="button" className="link" aria-label="Dismiss notice" onClick={() => c.store.getState().dismiss(n.id)}>×</button>
    </li>
  );
}

/** Notices as plain text (never HTML: some quote untrusted link parameters); a few at most (see the store). */
export function Notices() {
  const notices = useStudio((s) => s.notices);
  if (!notices.length) return null;
  return (
    <ul className="notices" aria-live="polite" data-testid="notices">
      {notices.map((n) => <NoticeItem key={n.id} n={n} />)}
    </ul>
  );
}
