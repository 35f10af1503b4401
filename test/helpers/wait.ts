// Small shared test utilities: polling until a condition holds, and a logger that records lines.
import type { Logger } from '../../src/pipeline/ports.ts';

/** Polls `check` until it is true; fails naming `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  pollMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** A Logger whose every call is appended to `lines` as JSON (for "no secret in the logs" checks). */
export function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    info: (obj, msg) => lines.push(JSON.stringify([obj, msg])),
    warn: (obj, msg) => lines.push(JSON.stringify([obj, msg])),
    error: (obj, msg) => lines.push(JSON.stringify([obj, msg])),
    debug: (obj, msg) => lines.push(JSON.stringify([obj, msg])),
    child: () => logger,
  };
  return logger;
}
