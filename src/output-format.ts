// `-o text|json|yaml`, the one output flag of every CLI command whose output is data (status,
// history, rollback): text for people, JSON or YAML of the same records for scripts. Only the data
// goes to stdout; progress and errors go to stderr, so `rewind status -o json | jq` always parses.
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['text', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The data as a JSON or YAML document, ending in a newline. */
export function renderData(format: Exclude<OutputFormat, 'text'>, data: unknown): string {
  return format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data);
}
