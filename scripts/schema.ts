// npm run schema: writes the JSON Schemas and docs/configuration.md generated from the zod schema
// (src/config/schema.ts). With --check, writes nothing and fails when a committed file differs.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { generatedFiles, ROOT } from './schema/generated-files.ts';

const check = process.argv.includes('--check');
let stale = 0;
for (const [file, content] of await generatedFiles()) {
  const target = path.join(ROOT, file);
  const committed = await readFile(target, 'utf8').catch(() => undefined);
  if (committed === content) continue;
  if (check) {
    stale += 1;
    console.error(`${file} is not what npm run schema generates`);
    continue;
  }
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, content);
  console.log(`wrote ${file}`);
}
if (stale > 0) process.exitCode = 1;
