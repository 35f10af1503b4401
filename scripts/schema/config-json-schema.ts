// rewind.yaml as a JSON Schema, from the zod schema that validates it at start: what a file may say
// (the input side: keys with a default are optional), descriptions included.
import { z } from 'zod';
import { configSchema } from '../../src/config/schema.ts';

export type JsonSchema = z.core.JSONSchema.JSONSchema;

export function configJsonSchema(): JsonSchema {
  const { $schema: _draft, ...schema } = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7' });
  return schema;
}

/** Draft 7: what Helm 3's validators and editors' YAML language servers all read. */
export const DRAFT = 'http://json-schema.org/draft-07/schema#';

/** The file editors load (yaml-language-server, IntelliJ) to check and complete rewind.yaml. */
export function editorJsonSchema(): JsonSchema {
  return {
    $schema: DRAFT,
    $id: 'https://raw.githubusercontent.com/rewind-bot/rewind/main/schema/rewind.schema.json',
    title: 'rewind.yaml',
    description:
      'Rewind configuration (rewind start --config rewind.yaml); every key: docs/configuration.md.',
    ...configJsonSchema(),
  };
}
