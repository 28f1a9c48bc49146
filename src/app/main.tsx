import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createEngineClient } from './engineClient';
import { StudioController } from './controller';
import './styles.css';

const engine = createEngineClient();
const controller = new StudioController(engine);
// Exposed for the browser tests and for curious users in the console.
(window as unknown as { __studio: unknown }).__studio = { engine, controller, store: controller.store };

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App controller={controller} />
  </StrictMode>,
);
void controller.start();
