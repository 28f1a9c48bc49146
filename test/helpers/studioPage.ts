// Driving the studio page in the browser tests: its state through the `window.__studio` test handle
// (never the URL), files dropped as a user drops them, and waits that fail with the run's own error.
import { expect } from 'vitest';
import type { Page } from 'playwright-core';

/** The page's store state, as plain data (a selector runs in the page). */
export async function studioState<T>(page: Page, select: string): Promise<T> {
  return page.evaluate((select) => {
    const s = (window as unknown as { __studio: { store: { getState(): unknown } } }).__studio.store.getState();
    return new Function('s', `return (${select});`)(s);
  }, select) as Promise<T>;
}

/** Opens the studio (a query string makes it a share link) and waits for its model. */
export async function openStudio(page: Page, baseUrl: string, query = ''): Promise<void> {
  await page.goto(`${baseUrl}${query ? `?${query}` : ''}`);
  await page.waitForFunction(() => (window as unknown as { __studio?: { store: { getState(): { model: { status: string } } } } }).__studio?.store.getState().model.status === 'ready', null, { timeout: 120_000, polling: 250 });
}

/** Drops a file on a drop zone of the Dataset screen as the user's drag and drop would. */
export async function dropFile(page: Page, name: string, text: string, zone = 'dropzone'): Promise<void> {
  await page.getByTestId('tab-dataset').click();
  await page.getByTestId(zone).waitFor();
  await page.evaluate(
    ({ name, text, zone }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], name, { type: 'application/x-ndjson' }));
      document.querySelector(`[data-testid="${zone}"]`)!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { name, text, zone },
  );
}

/** Waits until the run reaches one of `statuses`; a run that ends otherwise fails the test with its error. */
export async function waitForTraining(page: Page, status: 'running' | 'done' | 'failed' | 'cancelled', timeout = 300_000): Promise<void> {
  const wanted = status === 'running' ? ['running', 'done'] : [status];
  const reached = await page.waitForFunction(
    (wanted) => {
      const t = (window as unknown as { __studio: { store: { getState(): { training: { status: string; error: string | null } } } } }).__studio.store.getState().training;
      return wanted.includes(t.status) || ['failed', 'stopped', 'cancelled', 'done'].includes(t.status) ? { status: t.status, error: t.error } : null;
    },
    wanted,
    { timeout, polling: 200 },
  );
  const { status: got, error } = (await reached.jsonValue()) as { status: string; error: string | null };
  expect(got, `training ended ${got}: ${error}`).toBe(wanted.includes(got) ? got : wanted[0]);
}

/** A small chat dataset the demo model can learn from: short answers, a handful of distinct facts. */
export function chatJsonl(rows = 48): string {
  const facts = [
    ['What color is the sky?', 'The sky is blue.'],
    ['What do cows drink?', 'Cows drink water.'],
    ['Name a prime number.', 'Seven is prime.'],
    ['Where is Paris?', 'Paris is in France.'],
    ['What is two plus two?', 'Two plus two is four.'],
    ['What sound does a cat make?', 'A cat says meow.'],
  ];
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const [q, a] = facts[i % facts.length];
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }));
  }
  return `${lines.join('\n')}\n`;
}
