// Every file generated from the zod schema, by path from the repository root; `npm run schema` writes
// them and test/unit/generated-schema.test.ts checks the committed ones equal them.
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import { chartValuesJsonSchema } from './chart-values-schema.ts';
import { configurationDoc } from './configuration-doc.ts';
import { editorJsonSchema, type JsonSchema } from './config-json-schema.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

async function json(file: string, schema: JsonSchema): Promise<string> {
  const options = (await resolveConfig(path.join(ROOT, file))) ?? {};
  return format(JSON.stringify(schema), { ...options, parser: 'json' });
}

export async function generatedFiles(): Promise<Map<string, string>> {
  return new Map([
    [
      'deploy/chart/rewind/values.schema.json',
      await json('deploy/chart/rewind/values.schema.json', chartValuesJsonSchema()),
    ],
    ['schema/rewind.schema.json', await json('schema/rewind.schema.json', editorJsonSchema())],
    ['docs/configuration.md', configurationDoc()],
  ]);
}
