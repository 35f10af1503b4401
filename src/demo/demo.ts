// `rewind demo` / `npm run demo`: the README's main job.
import type { Writable } from 'node:stream';
import { startSandbox } from '../sandbox/sandbox.ts';
import { runTour } from './tour.ts';

export interface DemoOptions {
  out: Writable;
}

export async function runDemo({ out }: DemoOptions): Promise<number> {
  const log = (line: string): void => {
    out.write(`${line}\n`);
  };
  const sandbox = await startSandbox({ podReadyMs: 150 });
  log(`sandbox ready ${sandbox.url}`);
  try {
    await runTour({ sandbox, log });
    log('\ndemo finished: OK');
    return 0;
  } catch (error) {
    log(`\ndemo FAILED: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await sandbox.stop();
  }
}
