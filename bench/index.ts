// `npm run bench -- <name> [options]`: benchmarks print one JSON document on stdout.
// `npm run bench -- --help` lists them; `npm run bench -- <name> --help` prints what one measures
// and its options (the comment at the top of its file), without running it.
import { readFile } from 'node:fs/promises';

const benches: Record<
  string,
  { file: string; load: () => Promise<{ run: (args: string[]) => Promise<unknown> }> }
> = {
  sandbox: { file: 'sandbox.ts', load: () => import('./sandbox.ts') },
  mttr: { file: 'mttr.ts', load: () => import('./mttr.ts') },
  faults: { file: 'faults.ts', load: () => import('./faults.ts') },
  replicas: { file: 'replicas.ts', load: () => import('./replicas.ts') },
  overhead: { file: 'overhead.ts', load: () => import('./overhead.ts') },
  monorepo: { file: 'monorepo.ts', load: () => import('./monorepo.ts') },
  storm: { file: 'storm.ts', load: () => import('./storm.ts') },
  watch: { file: 'watch.ts', load: () => import('./watch.ts') },
  'profile-summary': { file: 'lib/profile-summary.ts', load: () => import('./lib/profile-summary.ts') },
};

const HELP = new Set(['--help', '-h', 'help']);

/** The comment block a benchmark's file opens with: what it measures, how to run it. */
async function usageOf(file: string): Promise<string> {
  const text = await readFile(new URL(file, import.meta.url), 'utf8');
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return lines.join('\n');
}

const [name = 'sandbox', ...args] = process.argv.slice(2);
if (HELP.has(name)) {
  console.log(
    `npm run bench -- <name> [options]; <name> --help for one. Benchmarks: ${Object.keys(benches).join(', ')}`,
  );
  process.exit(0);
}
const bench = benches[name];
if (!bench) {
  console.error(`unknown benchmark "${name}"; available: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
if (args.some((arg) => HELP.has(arg))) {
  console.log(await usageOf(bench.file));
  process.exit(0);
}
const result = await (await bench.load()).run(args);
console.log(JSON.stringify(result, null, 2));
process.exit(0);
