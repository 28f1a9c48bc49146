// The confusion matrix as a picture: rows are the true classes, columns the predicted ones, each
// cell shaded by the share of its row (recall on the diagonal) and labelled with its count.
export function ConfusionMatrix({ labels, counts }: { labels: string[]; counts: number[][] }) {
  const n = labels.length;
  const cell = n <= 6 ? 56 : n <= 12 ? 34 : 20;
  const left = Math.min(140, 12 + 7 * Math.max(...labels.map((l) => l.length)));
  const top = 28;
  const size = cell * n;
  const W = left + size + 8;
  const H = top + size + 40;
  const total = counts.flat().reduce((a, b) => a + b, 0);
  const short = (l: string) => (l.length > 18 ? `${l.slice(0, 17)}…` : l);
  return (
    <figure className="chart confusion" data-testid="confusion-matrix" data-total={total}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Confusion matrix of ${n} classes over ${total} validation examples`}>
        <text x={left + size / 2} y={14} textAnchor="middle" className="tick">predicted</text>
        {labels.map((l, j) => (
          <text key={`c${j}`} x={left + j * cell + cell / 2} y={top + size + 14} textAnchor="middle" className="tick">{n <= 12 ? short(l) : j}</text>
        ))}
        {labels.map((l, i) => {
          const rowTotal = counts[i].reduce((a, b) => a + b, 0);
          return (
            <g key={`r${i}`}>
              <text x={left - 6} y={top + i * cell + cell / 2 + 4} textAnchor="end" className="tick">{short(l)}</text>
              {counts[i].map((c, j) => {
                const share = rowTotal ? c / rowTotal : 0;
                return (
                  <g key={j} data-testid={`cm-${i}-${j}`} data-count={c}>
                    <rect x={left + j * cell} y={top + i * cell} width={cell - 2} height={cell - 2} rx={3} className={i === j ? 'cm-cell right' : 'cm-cell wrong'} style={{ fillOpacity: 0.08 + 0.85 * share }}>
                      <title>{`true ${l}, predicted ${labels[j]}: ${c} (${(share * 100).toFixed(0)}% of ${l})`}</title>
                    </rect>
                    {cell >= 30 && <text x={left + j * cell + cell / 2 - 1} y={top + i * cell + cell / 2 + 4} textAnchor="middle" className="cm-count">{c}</text>}
                  </g>
                );
              })}
            </g>
          );
        })}
        <text x={8} y={top + size / 2} className="tick" transform={`rotate(-90 8 ${top + size / 2})`} textAnchor="middle">true</text>
      </svg>
      <figcaption>rows: true class · columns: predicted · shade: share of the row</figcaption>
    </figure>
  );
}
