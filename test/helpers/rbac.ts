// What an RBAC manifest grants and what a client used, as comparable sets of permissions:
// `<verb> <group>/<resource>[/<subresource>][ name=<resourceName>]` (the core group is ''). A rule
// with resourceNames grants per name; a request counts under the name only when a rule that names
// it is what allowed it, so "get configmaps name=rewind-switches" and "create configmaps" stay apart.
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { AuditEntry } from '../../src/sandbox/access-control.ts';
import { type PolicyRule, ruleAllows } from '../../src/sandbox/rbac-authorizer.ts';
import type { RequestInfo } from '../../src/sandbox/request-info.ts';

export const REWIND_SERVICE_ACCOUNT = 'system:serviceaccount:rewind-system:rewind';

/** The rules of every Role and ClusterRole in a manifest file (bindings are checked by the API server). */
export async function rulesIn(file: string): Promise<PolicyRule[]> {
  return rulesOf(parseAllDocuments(await readFile(file, 'utf8')).map((doc) => doc.toJS() as unknown));
}

export function rulesOf(objects: readonly unknown[]): PolicyRule[] {
  return objects
    .filter((o): o is { kind: string; rules?: PolicyRule[] } =>
      ['Role', 'ClusterRole'].includes((o as { kind?: string } | null)?.kind ?? ''),
    )
    .flatMap((role) => role.rules ?? []);
}

export function permission(verb: string, group: string, resource: string, name?: string): string {
  return `${verb} ${group}/${resource}${name ? ` name=${name}` : ''}`;
}

/** Every permission the rules grant (no wildcards expected: deploy/rbac.yaml has none). */
export function granted(rules: readonly PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const rule of rules)
    for (const group of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs ?? [])
          for (const name of rule.resourceNames?.length ? rule.resourceNames : [undefined])
            out.add(permission(verb, group, resource, name));
  return [...out].sort();
}

/** The permissions a user's allowed resource requests needed, under the rules that allowed them. */
export function used(audit: readonly AuditEntry[], user: string, rules: readonly PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const entry of audit) {
    if (entry.user !== user || entry.path !== undefined || !entry.allowed) continue;
    const request: RequestInfo = { ...entry, resourceRequest: true, path: '', apiVersion: '' };
    const resource = entry.subresource ? `${entry.resource}/${entry.subresource}` : entry.resource;
    const byName = rules.some((rule) => rule.resourceNames?.length && ruleAllows(request, rule));
    out.add(permission(entry.verb, entry.apiGroup, resource, byName ? entry.name : undefined));
  }
  return [...out].sort();
}

/** The user's requests the API server refused, readable. */
export function denied(audit: readonly AuditEntry[], user: string): string[] {
  return audit
    .filter((entry) => entry.user === user && !entry.allowed)
    .map(
      (e) =>
        `${e.verb} ${e.apiGroup}/${e.resource}${e.subresource ? `/${e.subresource}` : ''} ${e.namespace}/${e.name}${e.path ?? ''}`,
    );
}
