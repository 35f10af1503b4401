// The image, replayed without a Docker engine: the Dockerfile's stages are read (so this test and the
// Dockerfile cannot drift), the build stage's `npm run build` and pruning run into a temporary /app,
// the deps stage's `npm ci --omit=dev` is asked (dry run, from the lockfile) which packages it
// installs, those are copied from node_modules, and the compiled CLI is run from there with a plain
// `node`: no tsx, no loader, no NODE_PATH.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const DEV_ONLY = ['tsx', 'typescript', 'vitest', 'esbuild', '@esbuild/linux-x64'];

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

/** The Dockerfile's stages, `\` continuations joined and comments dropped. */
function dockerStages(text: string): Stage[] {
  const stages: { name: string; from: string; instructions: Instruction[] }[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const match = /^(\S+)\s+(.*)$/.exec((pending + line).trim());
    pending = '';
    if (!match) continue;
    const [, keyword, args] = match as unknown as [string, string, string];
    if (keyword.toUpperCase() === 'FROM') {
      const [from = '', , name = String(stages.length)] = args.split(/\s+/);
      stages.push({ name, from, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

function stage(stages: readonly Stage[], name: string): Stage {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`Dockerfile has no stage "${name}"`);
  return found;
}

function runs(s: Stage): string[] {
  return s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

/** `COPY [--from=stage] src... dest` of a stage. */
function copies(s: Stage): { from?: string; sources: string[]; dest: string }[] {
  return s.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! };
    });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/** Every module a compiled file loads: static imports and re-exports, and `import('…')` (dynamic). */
function specifiers(code: string): { spec: string; dynamic: boolean }[] {
  const found: { spec: string; dynamic: boolean }[] = [];
  for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/g))
    found.push({ spec: m[1]!, dynamic: false });
  for (const m of code.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g))
    found.push({ spec: m[1]!, dynamic: false });
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g))
    found.push({ spec: m[1]!, dynamic: true });
  return found;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  link?: boolean;
}

const stages = dockerStages(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1)!;
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

describe('the image, replayed from the Dockerfile without an engine', () => {
  let work: string;
  let app: string;
  /** What the deps stage's `npm ci` says it installs (name@version), and what it warned. */
  let prod: { added: string[]; warnings: string };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'rewind-image-'));
    app = path.join(work, 'app');
    await mkdir(app);

    // The build stage: compile into its own /app, then its pruning (`rm -rf dist/...`).
    const build = stage(stages, 'build');
    const buildDir = path.join(work, 'build');
    expect(runs(build).some((r) => r.includes('npm run build'))).toBe(true);
    await run(process.execPath, [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      path.join(buildDir, 'dist'),
    ]);
    for (const command of runs(build)) {
      for (const m of command.matchAll(/rm -rf ((?:\s*dist\/[^\s&;]+)+)/g)) {
        for (const target of m[1]!.trim().split(/\s+/))
          await rm(path.join(buildDir, target), { recursive: true });
      }
    }

    // The deps stage: `npm ci --omit=dev` from the lockfile, as a dry run (nothing downloaded).
    const deps = stage(stages, 'deps');
    const ci = runs(deps)
      .flatMap((r) => r.split('&&'))
      .map((c) => c.trim())
      .find((c) => c.startsWith('npm ci'));
    expect(ci).toContain('--omit=dev');
    const lockDir = path.join(work, 'lock');
    await mkdir(lockDir);
    for (const f of ['package.json', 'package-lock.json'])
      await copyFile(path.join(ROOT, f), path.join(lockDir, f));
    const npm = await run(
      'npm',
      [...ci!.split(/\s+/).slice(1), '--dry-run', '--offline', '--ignore-scripts'],
      {
        cwd: lockDir,
      },
    );
    prod = {
      added: [...npm.stdout.matchAll(/^add (\S+) (\S+)$/gm)].map((m) => `${m[1]}@${m[2]}`),
      warnings: npm.stderr,
    };

    // The runtime stage's COPY lines, each one mapped to what the replay produced.
    for (const copy of copies(runtime)) {
      const dest = path.join(app, copy.dest);
      if (copy.from === 'build') {
        for (const source of copy.sources)
          cpSync(path.join(buildDir, path.relative('/app', source)), dest, { recursive: true });
      } else if (copy.from === 'deps') {
        expect(copy.sources).toEqual(['/app/node_modules']);
        copyProductionModules(dest);
      } else if (copy.from === undefined) {
        for (const source of copy.sources)
          cpSync(path.join(ROOT, source), path.join(dest, path.basename(source)));
      } else {
        throw new Error(`the replay does not know COPY --from=${copy.from}: teach it this test`);
      }
    }
  }, 180_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is a multi-stage Node 22 build whose runtime runs the compiled CLI as uid 10001, with git and a health check', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    for (const s of stages) expect(s.from).toBe('node:22-bookworm-slim');
    const last = (keyword: string): string | undefined =>
      runtime.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
    expect(last('USER')).toBe('10001:10001');
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['node', 'dist/src/cli.js']);
    expect(last('HEALTHCHECK')).toContain('/healthz');
    expect(runs(runtime).join('\n')).toMatch(/apt-get install[^\n]*\bgit\b[^\n]*\bopenssh-client\b/);
  });

  it('ships dist without the sandbox, the demo, tests or benchmarks', () => {
    const shipped = filesUnder(path.join(app, 'dist')).map((f) => path.relative(app, f));
    expect(shipped).toContain('dist/src/cli.js');
    expect(shipped).toContain('dist/workers/runtime.js');
    expect(shipped.filter((f) => /^dist\/(src\/(sandbox|demo)|test|bench)\//.test(f))).toEqual([]);
    expect(shipped.filter((f) => f.endsWith('.ts'))).toEqual([]);
  });

  it('loads nothing it does not ship: every import resolves in the image, to production packages only', () => {
    const installed = new Set(prod.added.map((a) => a.slice(0, a.lastIndexOf('@'))));
    const builtins = new Set(builtinModules);
    const cliFile = path.join(app, 'dist/src/cli.js');
    const sourceOnly = /^\.\/(sandbox|demo)\//;
    const problems: string[] = [];
    for (const file of filesUnder(path.join(app, 'dist')).filter((f) => f.endsWith('.js'))) {
      for (const { spec, dynamic } of specifiers(readFileSync(file, 'utf8'))) {
        const where = `${path.relative(app, file)} imports ${spec}${dynamic ? ' (dynamic)' : ''}`;
        if (spec.startsWith('.')) {
          // Only the CLI's `sandbox` and `demo` commands load what the image leaves out, on demand.
          const guarded = dynamic && file === cliFile && sourceOnly.test(spec);
          if (!guarded && !existsSync(path.resolve(path.dirname(file), spec))) problems.push(where);
        } else if (!spec.startsWith('node:') && !builtins.has(packageName(spec))) {
          if (!installed.has(packageName(spec)) || DEV_ONLY.includes(packageName(spec))) problems.push(where);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('installs no development tool, and nothing that refuses this Node (no EBADENGINE)', () => {
    expect(prod.added.length).toBeGreaterThan(50);
    const names = prod.added.map((a) => a.slice(0, a.lastIndexOf('@')));
    expect(names.filter((n) => DEV_ONLY.includes(n))).toEqual([]);
    expect(prod.warnings).not.toContain('EBADENGINE');
  });

  /** The compiled CLI in the replayed /app, with a plain node: no loader, no NODE_PATH. */
  const cli = (args: string[]) =>
    run(process.execPath, ['dist/src/cli.js', ...args], {
      cwd: app,
      env: { PATH: process.env['PATH'] ?? '', HOME: app, REWIND_LOG_LEVEL: 'silent' },
    }).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        out: e.stdout,
        err: e.stderr,
      }),
    );

  it('runs the compiled CLI with plain node: --version, --help', async () => {
    const version = await cli(['--version']);
    expect(version).toMatchObject({ code: 0, out: `${pkg.version}\n` });
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['start', 'worker', 'rollback', 'status', 'history'])
      expect(help.out).toContain(command);
  });

  it('refuses a bad config with every problem, and says the sandbox and the demo are not in the image', async () => {
    const config = path.join(app, 'bad.yaml');
    await writeFile(config, 'redis: {urll: x}\n');
    const status = await cli(['status', '--config', config]);
    expect(status.code).toBe(78);
    expect(status.err).toContain('redis.urll: unknown key; did you mean "url"?');

    for (const command of ['sandbox', 'demo']) {
      const result = await cli([command]);
      expect(result.code).toBe(1);
      expect(result.err).toContain(
        `"rewind ${command}" is not part of this image; run it from a source checkout`,
      );
      expect(result.err).not.toMatch(/^\s+at /m);
    }
  });
});

/**
 * node_modules as the deps stage leaves it: the lockfile's production packages (not `dev`), each
 * copied without its nested node_modules (nested production packages are copied on their own).
 */
function copyProductionModules(dest: string): void {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const stale: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (where === '' || entry.dev || entry.devOptional || entry.link) continue;
    const from = path.join(ROOT, where);
    if (!existsSync(from)) {
      if (entry.optional) continue; // a platform package of another OS or CPU
      stale.push(`${where} (missing)`);
      continue;
    }
    const installed = JSON.parse(readFileSync(path.join(from, 'package.json'), 'utf8')) as {
      version: string;
    };
    if (installed.version !== entry.version) stale.push(`${where} ${installed.version} != ${entry.version}`);
    const nested = path.join(from, 'node_modules');
    cpSync(from, path.join(dest, path.relative('node_modules', where)), {
      recursive: true,
      filter: (file) => file !== nested,
    });
  }
  if (stale.length > 0)
    throw new Error(`node_modules does not match package-lock.json (run npm ci): ${stale.join(', ')}`);
}
