import { useEffect, useState } from 'react';
import type { Remote } from 'comlink';
import type { GpuStatus, WorkerApi } from '../worker/api';

export function App({ engine }: { engine: Remote<WorkerApi> }) {
  const [status, setStatus] = useState<GpuStatus | null>(null);
  useEffect(() => {
    engine.gpuStatus().then(setStatus);
  }, [engine]);
  return (
    <main>
      <h1>Adapter Studio</h1>
      {!status && <p data-testid="gpu-status">Looking for a GPU…</p>}
      {status?.ok && (
        <p data-testid="gpu-status">
          GPU: <strong data-testid="adapter-name">{status.adapter.name}</strong>
          {status.features.f16 ? ' · f16' : ''}
        </p>
      )}
      {status && !status.ok && (
        <div role="alert" data-testid="gpu-status">
          <p>No WebGPU: {status.reason}</p>
        </div>
      )}
    </main>
  );
}
