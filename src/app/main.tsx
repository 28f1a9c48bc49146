import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createEngineClient } from './engineClient';

const engine = createEngineClient();
// Exposed for the browser tests and for curious users in the console.
(window as unknown as { __studio: unknown }).__studio = { engine };

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App engine={engine} />
  </StrictMode>,
);
