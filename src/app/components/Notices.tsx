import { useController, useStudio } from '../context';

/** Notices as plain text (never HTML: some quote untrusted link parameters). */
export function Notices() {
  const notices = useStudio((s) => s.notices);
  const c = useController();
  if (!notices.length) return null;
  return (
    <ul className="notices" aria-live="polite" data-testid="notices">
      {notices.map((n) => (
        <li key={n.id} className={`notice ${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
          <span>{n.text}</span>
          <button type="button" className="link" aria-label="Dismiss notice" onClick={() => c.store.getState().dismiss(n.id)}>×</button>
        </li>
      ))}
    </ul>
  );
}
