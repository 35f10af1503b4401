// Structured logs (pino) with every message, string field and key made clean (domain/outbound-text):
// secrets redacted by pattern, so a token that slips into an error message never reaches the log,
// and nothing unprintable: no bidi or control characters, and no lone surrogate (JSON.stringify
// writes one as a `\ud800` escape, which strict readers such as jq reject).
import { pino, type Logger as PinoLogger } from 'pino';
import { cleanText } from './domain/outbound-text.ts';
import type { Logger } from './pipeline/ports.ts';

/** Objects nested deeper are logged as this marker rather than unscrubbed. */
const MAX_DEPTH = 8;

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (value instanceof Error) return { type: value.name, message: cleanText(value.message) };
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), scrub(v, depth + 1)]));
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
      // Child loggers' bindings (a request's user, channel) never pass the hook below.
      formatters: { bindings: (bindings) => scrub(bindings) as Record<string, unknown> },
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
