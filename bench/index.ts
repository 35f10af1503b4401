// `npm run bench -- <name> [options]`: benchmarks print one JSON document on stdout.
const benches: Record<string, () => Promise<{ run: (args: string[]) => Promise<unknown> }>> = {
  sandbox: () => import('./sandbox.ts'),
  mttr: () => import('./mttr.ts'),
  faults: () => import('./faults.ts'),
  replicas: () => import('./replicas.ts'),
  overhead: () => import('./overhead.ts'),
  monorepo: () => import('./monorepo.ts'),
  storm: () => import('./storm.ts'),
  watch: () => import('./watch.ts'),
  'profile-summary': () => import('./lib/profile-summary.ts'),
};

const [name = 'sandbox', ...args] = process.argv.slice(2);
const load = benches[name];
if (!load) {
  console.error(`unknown benchmark "${name}"; available: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
const result = await (await load()).run(args);
console.log(JSON.stringify(result, null, 2));
process.exit(0);
