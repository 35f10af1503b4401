// Structured logs (pino) with secrets redacted by pattern from every message and string field, so a
// token that slips into an error message never reaches the log.
import { pino, type Logger as PinoLogger } from 'pino';
import { redact } from './domain/errors.ts';
import type { Logger } from './pipeline/ports.ts';

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (value instanceof Error) return { type: value.name, message: redact(value.message) };
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, depth + 1)]));
}

export interface LoggerOptions {
  level?: string;
  /** Where to write; default stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base: PinoLogger = pino(
    {
      level: options.level ?? process.env['REWIND_LOG_LEVEL'] ?? 'info',
      base: { app: 'rewind' },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => scrub(a)) as Parameters<typeof method>;
          method.apply(this, scrubbed);
        },
      },
    },
    options.destination ?? process.stdout,
  );
  return base;
}

/** A logger that drops everything (tests, the demo's quiet mode). */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}
