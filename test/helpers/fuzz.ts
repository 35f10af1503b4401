// Seeded payload mutation for the webhook fuzz tests: pick a path in a realistic JSON payload and
// replace (or delete) its value with a hostile one. Same seed, same payloads.
export type Random = () => number;

export function pickFrom<T>(random: Random, options: readonly T[]): T {
  return options[Math.floor(random() * options.length)]!;
}

function nested(depth: number, leaf: unknown, asArray: boolean): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
  return value;
}

/**
 * A hostile JSON value. `bigSizes`: string lengths just over what the endpoint reads (rare: they
 * cost time); `extra`: values that matter to one endpoint (markers, label names).
 */
export function hostileValue(
  random: Random,
  options: { readonly bigSizes: readonly number[]; readonly extra?: readonly unknown[] },
): unknown {
  const size = random() < 0.05 ? pickFrom(random, options.bigSizes) : pickFrom(random, [1, 64, 4_096]);
  const extra = options.extra ?? [];
  return pickFrom<() => unknown>(random, [
    () => null,
    () => true,
    () => 0,
    () => -1.5e308,
    () => 2 ** 53 + 1,
    () => '',
    () => 'x'.repeat(size),
    () => '\u0000\u202e\ud83d\ude00\ud800 é 漢字 \uffff',
    () => [],
    () => [1, 'two', null],
    () => ({}),
    () => ({ body: 42 }),
    () => nested(1 + Math.floor(random() * 2_000), 'deep', random() < 0.5),
    ...extra.map((value) => () => value),
  ])();
}

/** Every path to a value in a JSON tree down to `maxDepth` (deeper ones are our own hostile values). */
export function pathsOf(value: unknown, maxDepth = 6, at: (string | number)[] = []): (string | number)[][] {
  const paths = [at];
  if (at.length >= maxDepth) return paths;
  if (Array.isArray(value)) value.forEach((v, i) => paths.push(...pathsOf(v, maxDepth, [...at, i])));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) paths.push(...pathsOf(v, maxDepth, [...at, k]));
  }
  return paths;
}

/** Replaces (or deletes, when `remove`) the value at `path`; returns the new root. */
export function mutate(
  root: unknown,
  path: (string | number)[],
  replacement: unknown,
  remove: boolean,
): unknown {
  if (path.length === 0) return replacement;
  let parent = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (remove && !Array.isArray(parent)) delete parent[last];
  else parent[last] = replacement;
  return root;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Raw texts that are mostly not JSON (or JSON nested deeper than a recursive walker survives). */
export function brokenJsonTexts(text: string, random: Random): string[] {
  return [
    text.slice(0, Math.floor(random() * text.length)),
    `${text},`,
    `\ufeff${text}`,
    text.replace(/"/g, "'"),
    'null'.repeat(3),
    '[',
    '['.repeat(200_000),
    '{"a":'.repeat(50_000),
    '\u0000',
    `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
  ];
}
