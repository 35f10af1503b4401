// Kubernetes' RBAC authorizer over the Roles, ClusterRoles and bindings stored in the sandbox
// (plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/apis/rbac/v1/evaluation_helpers.go): a request
// is allowed when a rule of a role bound to the user (a ClusterRoleBinding anywhere, a RoleBinding
// in the request's namespace) matches its verb, API group, resource[/subresource] and name, or its
// non-resource URL. There are no deny rules. system:masters is allowed everything, as the
// API server's privileged-group authorizer does; discovery and /version are open to every
// authenticated user (the bootstrap ClusterRoles system:discovery and system:public-info-viewer).
import type { RequestInfo } from './request-info.ts';
import { CLUSTER_ROLE, CLUSTER_ROLE_BINDING, ROLE, ROLE_BINDING } from './resources.ts';
import { type KubeObject, type ObjectStore, StatusError } from './store.ts';

export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
}

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

export const MASTERS_GROUP = 'system:masters';
export const AUTHENTICATED_GROUP = 'system:authenticated';

/**
 * system:discovery + system:public-info-viewer (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
 * policy.go). The bootstrap policy binds public-info-viewer to system:unauthenticated too; here no
 * request gets that far without a valid token (admit answers 401, as --anonymous-auth=false does).
 */
const DISCOVERY_RULES: readonly PolicyRule[] = [
  {
    verbs: ['get'],
    nonResourceURLs: [
      '/api',
      '/api/*',
      '/apis',
      '/apis/*',
      '/healthz',
      '/livez',
      '/openapi',
      '/openapi/*',
      '/readyz',
      '/version',
      '/version/',
    ],
  },
];

/**
 * system:basic-user: every authenticated user may ask what they themselves may do
 * (`kubectl auth can-i`), through SelfSubjectAccessReview and SelfSubjectRulesReview.
 */
const BASIC_USER_RULES: readonly PolicyRule[] = [
  {
    verbs: ['create'],
    apiGroups: ['authorization.k8s.io'],
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
  },
];

/** cluster-admin, which the bootstrap policy binds to system:masters. */
export const CLUSTER_ADMIN_RULES: readonly PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** A set of rules and where they come from, in the words kube's RBAC authorizer uses. */
interface RuleSource {
  rules: readonly PolicyRule[];
  describe: () => string;
}

/**
 * The rules that apply to `user` in `namespace` ('' = cluster-scoped requests only): the bootstrap
 * grants, then each ClusterRoleBinding, then each RoleBinding of the namespace, as RBAC visits them;
 * lazily, so a verdict stops reading bindings at the first source that allows the request.
 */
function* ruleSources(store: ObjectStore, user: UserInfo, namespace: string): Generator<RuleSource> {
  if (user.groups.includes(MASTERS_GROUP))
    yield { rules: CLUSTER_ADMIN_RULES, describe: () => `the group "${MASTERS_GROUP}"` };
  if (user.groups.includes(AUTHENTICATED_GROUP)) {
    const group = `to Group "${AUTHENTICATED_GROUP}"`;
    yield { rules: BASIC_USER_RULES, describe: () => `ClusterRole "system:basic-user" ${group}` };
    yield { rules: DISCOVERY_RULES, describe: () => `ClusterRole "system:discovery" ${group}` };
  }
  const describe = (binding: KubeObject, bindingNamespace: string) => () => {
    const kind = bindingNamespace ? 'RoleBinding' : 'ClusterRoleBinding';
    const name = bindingNamespace ? `${binding.metadata.name}/${bindingNamespace}` : binding.metadata.name;
    const ref = binding['roleRef'] as { kind?: string; name?: string } | undefined;
    const subject = ((binding['subjects'] as Subject[] | undefined) ?? []).find((s) =>
      appliesTo(s, user, bindingNamespace),
    );
    const who =
      subject?.kind === 'ServiceAccount'
        ? `ServiceAccount "${subject.name}/${subject.namespace || bindingNamespace}"`
        : `${subject?.kind} "${subject?.name}"`;
    return `${kind} "${name}" of ${ref?.kind} "${ref?.name}" to ${who}`;
  };
  for (const binding of store.list(CLUSTER_ROLE_BINDING)) {
    if (boundTo(binding, user, ''))
      yield { rules: rulesOf(store, binding, ''), describe: describe(binding, '') };
  }
  if (namespace === '') return;
  for (const binding of store.list(ROLE_BINDING, { namespace })) {
    if (boundTo(binding, user, namespace))
      yield { rules: rulesOf(store, binding, namespace), describe: describe(binding, namespace) };
  }
}

/** RBAC's verdict on a request, and (when allowed) the reason kube-apiserver gives. */
export function explainAuthorization(
  store: ObjectStore,
  user: UserInfo,
  request: RequestInfo,
): { allowed: boolean; reason: string } {
  for (const source of ruleSources(store, user, request.namespace)) {
    if (source.rules.some((rule) => ruleAllows(request, rule)))
      return { allowed: true, reason: `RBAC: allowed by ${source.describe()}` };
  }
  return { allowed: false, reason: '' };
}

export function authorize(store: ObjectStore, user: UserInfo, request: RequestInfo): boolean {
  return explainAuthorization(store, user, request).allowed;
}

/** Every rule that applies to `user` in `namespace` (what a SelfSubjectRulesReview lists). */
export function rulesFor(store: ObjectStore, user: UserInfo, namespace: string): PolicyRule[] {
  return [...ruleSources(store, user, namespace)].flatMap((source) => source.rules);
}

/** The 403 kube-apiserver answers (endpoints/handlers/responsewriters/errors.go ForbiddenStatusError). */
export function forbidden(user: UserInfo, request: RequestInfo): StatusError {
  const who = JSON.stringify(user.username);
  if (!request.resourceRequest) {
    return new StatusError(
      403,
      'Forbidden',
      `forbidden: User ${who} cannot ${request.verb} path ${JSON.stringify(request.path)}`,
      {},
    );
  }
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  const scope = request.namespace
    ? `in the namespace ${JSON.stringify(request.namespace)}`
    : 'at the cluster scope';
  const reason = `User ${who} cannot ${request.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(request.apiGroup)} ${scope}`;
  const groupResource = request.apiGroup ? `${request.resource}.${request.apiGroup}` : request.resource;
  const subject = request.name ? `${groupResource} ${JSON.stringify(request.name)}` : groupResource;
  return new StatusError(403, 'Forbidden', `${subject} is forbidden: ${reason}`, {
    ...(request.name ? { name: request.name } : {}),
    ...(request.apiGroup ? { group: request.apiGroup } : {}),
    kind: request.resource,
  });
}

/** A role binding's role's rules; a missing role grants nothing (kube logs it and goes on). */
function rulesOf(store: ObjectStore, binding: KubeObject, namespace: string): PolicyRule[] {
  const ref = binding['roleRef'] as { kind?: string; name?: string } | undefined;
  if (!ref?.name) return [];
  const role =
    ref.kind === 'ClusterRole'
      ? store.get(CLUSTER_ROLE, undefined, ref.name)
      : ref.kind === 'Role' && namespace
        ? store.get(ROLE, namespace, ref.name)
        : undefined;
  const rules: unknown = role?.['rules'];
  return Array.isArray(rules) ? (rules as PolicyRule[]) : [];
}

function boundTo(binding: KubeObject, user: UserInfo, bindingNamespace: string): boolean {
  const subjects: unknown = binding['subjects'];
  if (!Array.isArray(subjects)) return false;
  return (subjects as Subject[]).some((subject) => appliesTo(subject, user, bindingNamespace));
}

function appliesTo(subject: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.username;
    case 'Group':
      return subject.name !== undefined && user.groups.includes(subject.name);
    case 'ServiceAccount': {
      // A RoleBinding's subject may leave the namespace out: it means the binding's own.
      const namespace = subject.namespace || bindingNamespace;
      return namespace !== '' && serviceAccountUsername(namespace, subject.name ?? '') === user.username;
    }
    default:
      return false;
  }
}

export function ruleAllows(request: RequestInfo, rule: PolicyRule): boolean {
  if (!matches(rule.verbs, request.verb)) return false;
  if (!request.resourceRequest) return nonResourceUrlMatches(rule.nonResourceURLs ?? [], request.path);
  const combined = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  return (
    matches(rule.apiGroups, request.apiGroup) &&
    resourceMatches(rule.resources ?? [], combined, request.subresource) &&
    (!rule.resourceNames?.length || rule.resourceNames.includes(request.name))
  );
}

function matches(values: string[] | undefined, wanted: string): boolean {
  return (values ?? []).some((value) => value === '*' || value === wanted);
}

function resourceMatches(resources: string[], combined: string, subresource: string): boolean {
  return resources.some(
    (resource) =>
      resource === '*' || resource === combined || (subresource !== '' && resource === `*/${subresource}`),
  );
}

function nonResourceUrlMatches(urls: string[], path: string): boolean {
  return urls.some(
    (url) => url === '*' || url === path || (url.endsWith('*') && path.startsWith(url.slice(0, -1))),
  );
}
