// Go's time.Duration as Flux specs write it ("1m30s", "500ms", "1.5h") and as Flux messages print
// it ("2m0s", "12.565167ms"). Durations are carried as milliseconds (fractions allowed).

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration string (time.ParseDuration) into milliseconds. Throws on malformed input. */
export function parseGoDuration(text: string): number {
  const input = text.trim();
  const match = /^([-+]?)(.*)$/s.exec(input)!;
  const sign = match[1] === '-' ? -1 : 1;
  const body = match[2]!;
  if (body === '0') return 0;
  if (body === '') throw new Error(`time: invalid duration "${text}"`);
  let total = 0;
  let rest = body;
  while (rest.length > 0) {
    const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!part) {
      if (/^(\d+(?:\.\d*)?|\.\d+)$/.test(rest)) throw new Error(`time: missing unit in duration "${text}"`);
      throw new Error(`time: invalid duration "${text}"`);
    }
    total += Number(part[1]) * UNIT_MS[part[2]!]!;
    rest = rest.slice(part[0].length);
  }
  return sign * total;
}

/** Like parseGoDuration, with a fallback for absent or invalid values. */
export function durationOr(text: unknown, fallbackMs: number): number {
  if (typeof text !== 'string' || text === '') return fallbackMs;
  try {
    return parseGoDuration(text);
  } catch {
    return fallbackMs;
  }
}

function trimFraction(value: string): string {
  return value.includes('.') ? value.replace(/0+$/, '').replace(/\.$/, '') : value;
}

/** Formats milliseconds the way Go's Duration.String() does: "0s", "1.5µs", "500ms", "1m30s", "2h0m0s". */
export function formatGoDuration(ms: number): string {
  const negative = ms < 0;
  const ns = Math.round(Math.abs(ms) * 1e6);
  const sign = negative && ns > 0 ? '-' : '';
  if (ns === 0) return '0s';
  if (ns < 1000) return `${sign}${ns}ns`;
  if (ns < 1_000_000) return `${sign}${trimFraction((ns / 1000).toFixed(3))}µs`;
  if (ns < 1_000_000_000) return `${sign}${trimFraction((ns / 1e6).toFixed(6))}ms`;
  const hours = Math.floor(ns / 3.6e12);
  const minutes = Math.floor((ns % 3.6e12) / 6e10);
  const secondsNs = ns % 6e10;
  const seconds = trimFraction(`${Math.floor(secondsNs / 1e9)}.${String(secondsNs % 1e9).padStart(9, '0')}`);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
