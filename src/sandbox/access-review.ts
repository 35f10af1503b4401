// authorization.k8s.io/v1 SelfSubjectAccessReview and SelfSubjectRulesReview: what
// `kubectl auth can-i <verb> <resource>` and `kubectl auth can-i --list` ask. Both are create-only
// and stored nowhere; the answer is the review with its status filled in for the caller. Without
// RBAC (AlwaysAllow) everything is allowed, as kube-apiserver's AlwaysAllow authorizer answers; with
// RBAC the answer comes from the Roles, ClusterRoles and bindings in the store (rbac-authorizer.ts).
import type { AuthorizationMode } from './access-control.ts';
import { CLUSTER_ADMIN_RULES, type UserInfo, explainAuthorization, rulesFor } from './rbac-authorizer.ts';
import { type RequestInfo, nonResourceRequest } from './request-info.ts';
import { type KubeObject, type ObjectStore, StatusError } from './store.ts';

export const AUTHORIZATION_GROUP = 'authorization.k8s.io';
export const AUTHORIZATION_VERSION = 'v1';

/** The discovery entries of authorization.k8s.io/v1. */
export const REVIEW_RESOURCES = [
  { name: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview' },
  { name: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview' },
].map(({ name, kind }) => ({
  name,
  singularName: name.slice(0, -1),
  namespaced: false,
  kind,
  verbs: ['create'],
}));

/** Answers a POST of `resource` (one of REVIEW_RESOURCES) by `user`: the review, with its status. */
export function review(
  store: ObjectStore,
  mode: AuthorizationMode,
  user: UserInfo,
  resource: string,
  body: KubeObject,
): Record<string, unknown> {
  const entry = REVIEW_RESOURCES.find((r) => r.name === resource);
  if (!entry) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  const apiVersion = `${AUTHORIZATION_GROUP}/${AUTHORIZATION_VERSION}`;
  if ((body.kind && body.kind !== entry.kind) || (body.apiVersion && body.apiVersion !== apiVersion)) {
    throw new StatusError(
      400,
      'BadRequest',
      `the API version in the data (${body.apiVersion}) and kind (${body.kind}) do not match ${apiVersion} ${entry.kind}`,
    );
  }
  const spec = (body.spec ?? {}) as Record<string, any>;
  const status =
    entry.kind === 'SelfSubjectAccessReview'
      ? accessReviewStatus(store, mode, user, spec, entry.kind)
      : rulesReviewStatus(store, mode, user, spec);
  return {
    kind: entry.kind,
    apiVersion,
    metadata: { creationTimestamp: null },
    spec,
    status,
  };
}

function accessReviewStatus(
  store: ObjectStore,
  mode: AuthorizationMode,
  user: UserInfo,
  spec: Record<string, any>,
  kind: string,
): Record<string, unknown> {
  const request = requestOf(spec, kind);
  if (mode === 'AlwaysAllow') return { allowed: true };
  const { allowed, reason } = explainAuthorization(store, user, request);
  return { allowed, ...(reason ? { reason } : {}) };
}

/** The RequestInfo a review's spec describes; exactly one of the two attribute sets is required. */
function requestOf(spec: Record<string, any>, kind: string): RequestInfo {
  const resource = spec['resourceAttributes'];
  const nonResource = spec['nonResourceAttributes'];
  if ((resource === undefined) === (nonResource === undefined)) {
    throw new StatusError(
      422,
      'Invalid',
      `${kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified`,
      { kind, group: AUTHORIZATION_GROUP },
    );
  }
  if (nonResource !== undefined) {
    return nonResourceRequest(String(nonResource.verb ?? ''), String(nonResource.path ?? ''));
  }
  return {
    resourceRequest: true,
    path: '',
    verb: String(resource.verb ?? ''),
    apiGroup: String(resource.group ?? ''),
    apiVersion: String(resource.version ?? ''),
    resource: String(resource.resource ?? ''),
    subresource: String(resource.subresource ?? ''),
    namespace: String(resource.namespace ?? ''),
    name: String(resource.name ?? ''),
  };
}

function rulesReviewStatus(
  store: ObjectStore,
  mode: AuthorizationMode,
  user: UserInfo,
  spec: Record<string, any>,
): Record<string, unknown> {
  const namespace = String(spec['namespace'] ?? '');
  // AlwaysAllow answers a rules review with everything (alwaysAllowAuthorizer.RulesFor): cluster-admin's rules.
  const rules = mode === 'AlwaysAllow' ? CLUSTER_ADMIN_RULES : rulesFor(store, user, namespace);
  const list = (values: string[] | undefined) => [...(values ?? [])];
  return {
    resourceRules: rules
      .filter((rule) => rule.resources?.length)
      .map((rule) => ({
        verbs: list(rule.verbs),
        apiGroups: list(rule.apiGroups),
        resources: list(rule.resources),
        ...(rule.resourceNames?.length ? { resourceNames: list(rule.resourceNames) } : {}),
      })),
    nonResourceRules: rules
      .filter((rule) => rule.nonResourceURLs?.length)
      .map((rule) => ({ verbs: list(rule.verbs), nonResourceURLs: list(rule.nonResourceURLs) })),
    incomplete: false,
  };
}
