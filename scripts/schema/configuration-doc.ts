// docs/configuration.md: every key of rewind.yaml with its type, default, environment variable and
// description, read from the JSON Schema generated from the zod schema.
import { envOverrides } from '../../src/config/load.ts';
import { configJsonSchema, type JsonSchema } from './config-json-schema.ts';

interface Row {
  readonly key: string;
  readonly type: string;
  readonly default: string;
  readonly env: string;
  readonly description: string;
}

const code = (text: string): string => `\`${text}\``;
const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return code(JSON.stringify(schema.const));
  if (schema.enum) return schema.enum.map((v) => code(String(v))).join(' | ');
  if (schema.oneOf) return 'one of the forms below';
  if (schema.title === 'duration') return 'duration';
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? (schema.exclusiveMinimum === 0 ? 1 : undefined);
      const max = schema.maximum === Number.MAX_SAFE_INTEGER ? undefined : schema.maximum;
      const range =
        min !== undefined && max !== undefined
          ? ` ${min}–${max}`
          : min !== undefined
            ? ` ≥ ${min}`
            : max !== undefined
              ? ` ≤ ${max}`
              : '';
      return `${schema.type}${range}`;
    }
    case 'string':
      return schema.format === 'uri' ? 'URL' : 'string';
    case 'array': {
      const items = schema.items;
      const of = items && typeof items === 'object' && !Array.isArray(items) ? typeOf(items) : 'any';
      return `list of ${of}`;
    }
    default:
      return String(schema.type ?? 'any');
  }
}

function defaultOf(schema: JsonSchema, required: boolean): string {
  if (required) return '**required**';
  if (schema.default === undefined) return '';
  if (schema.type === 'object' && JSON.stringify(schema.default) === '{}') return '';
  return code(JSON.stringify(schema.default));
}

/** The object schema inside an array's items, if the array lists objects. */
function objectItems(schema: JsonSchema): JsonSchema | undefined {
  const items = schema.items;
  if (!items || typeof items !== 'object' || Array.isArray(items)) return undefined;
  return items.type === 'object' ? items : undefined;
}

/** Rows of an object's keys and theirs; `form` marks the keys of one form of a union. */
function rows(schema: JsonSchema, prefix: string, env: Map<string, string>, form = ''): Row[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).flatMap(([name, child]): Row[] => {
    if (typeof child !== 'object') return [];
    const key = `${prefix}${name}`;
    const row: Row = {
      key,
      type: typeOf(child),
      default: defaultOf(child, required.has(name)),
      env: env.has(key) ? code(env.get(key)!) : '',
      description: `${form && `*${form}:* `}${child.description ?? ''}`,
    };
    const items = objectItems(child);
    if (items) return [row, ...rows(items, `${key}[].`, env)];
    if (child.oneOf) return [row, ...variantRows(child.oneOf, `${key}.`, env)];
    if (child.type === 'object') return [row, ...rows(child, `${key}.`, env)];
    return [row];
  });
}

/** A discriminated union: its tag once (every value, what each means), then each form's own keys. */
function variantRows(variants: JsonSchema[], prefix: string, env: Map<string, string>): Row[] {
  const forms = variants.map((variant) => {
    const tag = Object.entries(variant.properties ?? {}).find(
      ([, p]) => typeof p === 'object' && p.const !== undefined,
    );
    if (tag === undefined) throw new Error(`${prefix}: a union without a tag property`);
    const [name, schema] = tag as [string, JsonSchema];
    return { name, value: String(schema.const), description: schema.description ?? '', variant };
  });
  const [first] = forms;
  if (first === undefined) return [];
  const key = `${prefix}${first.name}`;
  const tagRow: Row = {
    key,
    type: forms.map((f) => code(f.value)).join(' | '),
    default: '**required**',
    env: env.has(key) ? code(env.get(key)!) : '',
    description: forms.map((f) => `${f.value}: ${f.description}`).join(' '),
  };
  return [
    tagRow,
    ...forms.flatMap((f) =>
      rows(f.variant, prefix, env, `${f.name} ${f.value}`).filter((row) => row.key !== key),
    ),
  ];
}

const HEADER = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run schema\`; edit the schema, not this file. -->

Rewind reads one YAML file (\`rewind start --config rewind.yaml\`; an example: \`rewind.example.yaml\`).
It is validated at start and every problem is reported at once with its key path; an unknown key is an
error. Every key may be left out unless marked **required**: its default applies.

- **Environment**: a scalar key (or a list of strings, comma-separated) is overridden by
  \`REWIND_<PATH>\`, the path's segments upper-cased and joined by \`_\`. Lists of objects are file-only.
- **duration**: \`500ms\`, \`30s\`, \`2m\`, \`1h30m\`, \`7d\` (units ms, s, m, h, d; \`0\` alone).
- Keys ending in \`Env\` name an environment variable that holds a secret; the secret itself never
  goes in the file.
- Editors: \`schema/rewind.schema.json\` is the JSON Schema of this file (with yaml-language-server,
  put \`# yaml-language-server: $schema=<path or URL of rewind.schema.json>\` on the first line).
- Helm chart: the same keys go under \`config:\`; the chart's \`values.schema.json\` checks them too.
`;

export function configurationDoc(): string {
  const schema = configJsonSchema();
  const env = new Map([...envOverrides()].map(([name, leaf]) => [leaf.path.join('.'), name]));
  const sections = Object.entries(schema.properties ?? {}).map(([name, section]) => {
    if (typeof section !== 'object') return '';
    // An object section's own row would repeat its heading.
    const table = rows({ properties: { [name]: section } }, '', env)
      .filter((r) => r.key !== name || section.type !== 'object')
      .map(
        (r) =>
          `| ${code(r.key)} | ${cell(r.type)} | ${cell(r.default)} | ${r.env} | ${cell(r.description)} |`,
      )
      .join('\n');
    return `## ${name}

${section.description ?? ''}

| Key | Type | Default | Environment | Description |
| --- | --- | --- | --- | --- |
${table}
`;
  });
  return [HEADER, ...sections].join('\n');
}
