// The OpenAPI the sandbox publishes: just enough for kubectl's validation to pass.
//
// `kubectl apply|create` (strict validation by default) asks /openapi/v3 whether each kind's PATCH
// operation accepts the `fieldValidation` query parameter. If it does, kubectl leaves validation to
// the server (which the sandbox tolerates) and skips client-side schema checks. So each group-version
// document lists one PATCH operation per kind, tagged with `x-kubernetes-group-version-kind`, that
// declares `fieldValidation`. No component schemas are published on purpose: without them kubectl
// builds strategic merge patches from its compiled-in types (which know the merge keys) and JSON
// merge patches for custom kinds, exactly as against a real cluster.
import { RESOURCES, type ResourceType } from './resources.ts';

/** The path prefix of a group-version, without leading slash: `api/v1`, `apis/apps/v1`. */
export function groupVersionPath(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group === '' ? `api/${type.version}` : `apis/${type.group}/${type.version}`;
}

function groupVersionPaths(): string[] {
  return [...new Set(RESOURCES.map(groupVersionPath))];
}

/** `GET /openapi/v3`: where each group-version's document lives. */
export function openApiV3Root(hash: string): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of groupVersionPaths()) paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
  return { paths };
}

const queryParameter = (name: string) => ({
  name,
  in: 'query',
  schema: { type: 'string', uniqueItems: true },
});

function patchOperation(type: ResourceType): Record<string, unknown> {
  return {
    operationId: `patch${type.kind}`,
    'x-kubernetes-action': 'patch',
    'x-kubernetes-group-version-kind': { group: type.group, version: type.version, kind: type.kind },
    parameters: ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map(queryParameter),
    requestBody: { content: { 'application/merge-patch+json': { schema: { type: 'object' } } } },
    responses: { '200': { description: 'OK' } },
  };
}

/** `GET /openapi/v3/<gv>`; undefined for a group-version the sandbox does not serve. */
export function openApiV3GroupVersion(
  gvPath: string,
  serverVersion: string,
): Record<string, unknown> | undefined {
  const types = RESOURCES.filter((type) => groupVersionPath(type) === gvPath);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const type of types) {
    const scope = type.namespaced ? '/namespaces/{namespace}' : '';
    paths[`/${gvPath}${scope}/${type.plural}/{name}`] = {
      parameters: [
        { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
        ...(type.namespaced
          ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }]
          : []),
      ],
      patch: patchOperation(type),
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (Rewind sandbox)', version: serverVersion },
    paths,
    components: { schemas: {} },
  };
}

/** `GET /openapi/v2` as JSON, for clients that ask for it (kubectl asks for protobuf, see api-server). */
export function openApiV2(serverVersion: string): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'Kubernetes (Rewind sandbox)', version: serverVersion },
    paths: {},
    definitions: {},
  };
}
