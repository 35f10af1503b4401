// The JSON Schemas and the configuration reference are generated from the zod schema that validates
// rewind.yaml; the committed files must be exactly what `npm run schema` writes, so they never drift.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.ts';
import { generatedFiles, ROOT } from '../../scripts/schema/generated-files.ts';

const files = await generatedFiles();

describe('files generated from the config schema (npm run schema)', () => {
  it.each([...files.keys()])('%s is committed as generated', async (file) => {
    const committed = await readFile(path.join(ROOT, file), 'utf8').catch(() => '(missing)');
    expect(committed, `run npm run schema and commit ${file}`).toBe(files.get(file));
  });

  it('has a section per top-level key and a description on every row of docs/configuration.md', () => {
    const doc = files.get('docs/configuration.md')!;
    for (const key of Object.keys(configSchema.shape)) expect(doc).toContain(`\n## ${key}\n`);
    const rows = doc.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows.length).toBeGreaterThan(100);
    // A key added to the schema without .describe() shows up here.
    expect(rows.filter((row) => row.endsWith('|  |'))).toEqual([]);
  });
});
