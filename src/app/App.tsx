import { useEffect, useRef } from 'react';
import { ControllerContext, useController, useStudio } from './context';
import type { StudioController } from './controller';
import { SCREENS, type Screen } from './store/store';
import { Notices } from './components/Notices';
import { NoWebGpu } from './components/NoWebGpu';
import { ModelScreen } from './screens/ModelScreen';
import { DatasetScreen } from './screens/DatasetScreen';
import { HyperScreen } from './screens/HyperScreen';
import { TrainingScreen } from './screens/TrainingScreen';
import { PlaygroundScreen } from './screens/PlaygroundScreen';
import { LibraryScreen } from './screens/LibraryScreen';

const TITLES: Record<Screen, string> = {
  model: 'Model',
  dataset: 'Dataset',
  hyperparameters: 'Hyperparameters',
  training: 'Training',
  playground: 'Playground',
  library: 'Library',
};

/** Tabs with roving focus: arrows, Home and End move between screens; Alt+1…6 jump from anywhere. */
function Tabs() {
  const c = useController();
  const screen = useStudio((s) => s.screen);
  const training = useStudio((s) => s.training.status);
  const libraryCount = useStudio((s) => s.library.length);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const go = (i: number) => {
    const next = SCREENS[(i + SCREENS.length) % SCREENS.length];
    c.store.getState().setScreen(next);
    refs.current[SCREENS.indexOf(next)]?.focus();
  };
  return (
    <nav aria-label="Studio screens">
      <div role="tablist" className="tabs">
        {SCREENS.map((s, i) => (
          <button
            key={s}
            ref={(el) => {
              refs.current[i] = el;
            }}
            role="tab"
            id={`tab-${s}`}
            data-testid={`tab-${s}`}
            aria-selected={screen === s}
            aria-controls="screen"
            tabIndex={screen === s ? 0 : -1}
            onClick={() => c.store.getState().setScreen(s)}
            onKeyDown={(e) => {
              if (e.key === 'ArrowRight') go(i + 1);
              else if (e.key === 'ArrowLeft') go(i - 1);
              else if (e.key === 'Home') go(0);
              else if (e.key === 'End') go(SCREENS.length - 1);
              else return;
              e.preventDefault();
            }}
          >
            <span className="tab-number">{i + 1}</span> {TITLES[s]}
            {s === 'training' && (training === 'running' || training === 'paused') && <span className={`pip ${training}`} aria-label={training} />}
            {s === 'library' && libraryCount > 0 && <span className="count">{libraryCount}</span>}
          </button>
        ))}
      </div>
    </nav>
  );
}

function CurrentScreen() {
  const screen = useStudio((s) => s.screen);
  return (
    <div id="screen" role="tabpanel" aria-labelledby={`tab-${screen}`} data-screen={screen}>
      {screen === 'model' && <ModelScreen />}
      {screen === 'dataset' && <DatasetScreen />}
      {screen === 'hyperparameters' && <HyperScreen />}
      {screen === 'training' && <TrainingScreen />}
      {screen === 'playground' && <PlaygroundScreen />}
      {screen === 'library' && <LibraryScreen />}
    </div>
  );
}

/** An unfinished run is one click away from any screen (the Training screen lists it with Resume). */
function ResumeBanner() {
  const c = useController();
  const runs = useStudio((s) => s.interrupted);
  const screen = useStudio((s) => s.screen);
  const status = useStudio((s) => s.training.status);
  if (!runs.length || screen === 'training' || status === 'starting' || status === 'running' || status === 'paused') return null;
  const r = runs[0];
  return (
    <div className="notice warning resume-banner" role="status" data-testid="resume-banner">
      <span>
        An unfinished run can be resumed{r.checkpointStep !== null ? ` from step ${r.checkpointStep} of ${r.totalSteps}` : ''}{runs.length > 1 ? ` (and ${runs.length - 1} more)` : ''}.
      </span>
      <span className="row">
        <button type="button" className="primary" onClick={() => void c.resumeRun(r.runId)}>Resume</button>
        <button type="button" onClick={() => c.store.getState().setScreen('training')}>Show</button>
      </span>
    </div>
  );
}

function Shell() {
  const c = useController();
  const gpu = useStudio((s) => s.gpu);
  const model = useStudio((s) => s.model);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const i = Number(e.key) - 1;
      if (i >= 0 && i < SCREENS.length) {
        e.preventDefault();
        c.store.getState().setScreen(SCREENS[i]);
        document.getElementById(`tab-${SCREENS[i]}`)?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [c]);
  return (
    <div className="app">
      <a className="skip" href="#screen">Skip to the screen</a>
      <header className="top">
        <h1>
          <img src="./favicon.svg" alt="" width={22} height={22} /> Adapter Studio
        </h1>
        <p className="tagline">LoRA fine-tuning on your own GPU. Your data never leaves this computer.</p>
        <div className="status" data-testid="gpu-status">
          {!gpu && 'Looking for a GPU…'}
          {gpu?.ok && (
            <>
              <span className="dot ok" aria-hidden="true" /> GPU: <strong>{gpu.adapter.name}</strong>
              {gpu.features.f16 ? ' · f16' : ''}
            </>
          )}
          {gpu && !gpu.ok && (
            <>
              <span className="dot bad" aria-hidden="true" /> No WebGPU
            </>
          )}
          {model.status === 'ready' && <span className="model-pill" data-testid="model-pill">{model.info.name}</span>}
        </div>
      </header>
      <Notices />
      {gpu && !gpu.ok ? (
        <NoWebGpu reason={gpu.reason} hint={gpu.hint} />
      ) : (
        <>
          <Tabs />
          <ResumeBanner />
          <main>
            <CurrentScreen />
          </main>
        </>
      )}
      <footer>
        <span>Adapter Studio · adapters load with PEFT’s <code>PeftModel.from_pretrained</code></span>
        <span className="hint">Alt+1…6 switch screens</span>
      </footer>
    </div>
  );
}

export function App({ controller }: { controller: StudioController }) {
  return (
    <ControllerContext.Provider value={controller}>
      <Shell />
    </ControllerContext.Provider>
  );
}
