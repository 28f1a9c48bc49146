import type { Server } from 'node:http';
export function parseRange(header: string | undefined, size: number): [number, number] | null | 'bad';
export interface ServeOptions {
  root: string;
  port?: number;
  host?: string;
  range?: boolean;
  status?: (path: string) => number | undefined;
  log?: boolean;
}
export function serve(options: ServeOptions): Promise<{ url: string; port: number; server: Server; close(): Promise<void> }>;
