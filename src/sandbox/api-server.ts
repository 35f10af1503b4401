// CONTRACT STUB — replaced by the real HTTP API server.
import type { ObjectStore } from './store.ts';

export interface ApiServerOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
}

export class ApiServer {
  readonly stats = { requests: 0 };
  constructor(
    readonly store: ObjectStore,
    readonly options: ApiServerOptions = {},
  ) {}
  /** Starts serving; resolves to the base URL, e.g. http://127.0.0.1:40123. */
  async listen(): Promise<string> {
    throw new Error('not implemented');
  }
  async close(): Promise<void> {}
}
