// Who is calling the sandbox API server, whether they may, and what they did.
//
// Authentication: bearer tokens. The sandbox kubeconfig's token is the cluster admin (group
// system:masters, never restricted); ServiceAccount tokens are minted by the TokenRequest
// subresource (`kubectl create token <sa>`, POST .../serviceaccounts/<sa>/token) and stop working
// when their ServiceAccount is deleted, as bound tokens do.
// Authorization: 'AlwaysAllow' (the default: every request goes, with or without a token, as the
// sandbox always behaved) or 'RBAC' (rbac-authorizer.ts; requests without a valid token are 401).
// Audit: one entry per request, in the terms RBAC uses, so a test can compare what a client did
// with what its Role grants.
import { randomBytes } from 'node:crypto';
import type { RequestInfo } from './request-info.ts';
import {
  AUTHENTICATED_GROUP,
  MASTERS_GROUP,
  type UserInfo,
  authorize,
  forbidden,
  serviceAccountUsername,
} from './rbac-authorizer.ts';
import { SERVICE_ACCOUNT } from './resources.ts';
import { type KubeObject, type ObjectStore, StatusError } from './store.ts';

export type AuthorizationMode = 'AlwaysAllow' | 'RBAC';

export interface AccessOptions {
  authorization?: AuthorizationMode;
  /** Keep an audit entry per request (off by default: long-running sandboxes would grow it forever). */
  audit?: boolean;
}

/** One request as the audit log records it (kube's audit.k8s.io Event objectRef + verb + user). */
export interface AuditEntry {
  user: string;
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** Non-resource requests only (discovery, /version). */
  path?: string;
  allowed: boolean;
}

/** The token in the sandbox's own kubeconfig (sandbox.ts). */
export const ADMIN_TOKEN = 'sandbox';
const ADMIN: UserInfo = { username: 'sandbox-admin', groups: [MASTERS_GROUP, AUTHENTICATED_GROUP] };
const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
/** What a TokenRequest without spec.expirationSeconds gets (kube's default is one hour). */
const DEFAULT_TOKEN_SECONDS = 3600;

interface ServiceAccountToken {
  namespace: string;
  name: string;
  uid: string;
}

export class AccessControl {
  readonly audit: AuditEntry[] = [];
  private readonly serviceAccountTokens = new Map<string, ServiceAccountToken>();

  constructor(
    private readonly store: ObjectStore,
    private readonly options: AccessOptions = {},
  ) {}

  get mode(): AuthorizationMode {
    return this.options.authorization ?? 'AlwaysAllow';
  }

  /**
   * Authenticates and authorizes one request; throws the 401/403 Status kube-apiserver would send.
   * Records it in the audit log either way.
   */
  admit(authorization: string | undefined, request: RequestInfo): UserInfo {
    const user = this.authenticate(authorization);
    if (!user && this.mode === 'RBAC') {
      throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    }
    const caller = user ?? ANONYMOUS;
    const allowed = this.mode === 'AlwaysAllow' || authorize(this.store, caller, request);
    if (this.options.audit) this.audit.push(auditEntry(caller, request, allowed));
    if (!allowed) throw forbidden(caller, request);
    return caller;
  }

  /** A token for a ServiceAccount (what TokenRequest answers); the ServiceAccount must exist. */
  serviceAccountToken(namespace: string, name: string): string {
    const account = this.store.mustGet(SERVICE_ACCOUNT, namespace, name);
    const token = `sandbox-sa.${randomBytes(24).toString('base64url')}`;
    this.serviceAccountTokens.set(token, { namespace, name, uid: account.metadata.uid ?? '' });
    return token;
  }

  /** POST serviceaccounts/<name>/token: an authentication.k8s.io/v1 TokenRequest with the token. */
  tokenRequest(namespace: string, name: string, request: KubeObject | undefined): Record<string, unknown> {
    const token = this.serviceAccountToken(namespace, name);
    const seconds = Number(request?.spec?.expirationSeconds ?? DEFAULT_TOKEN_SECONDS);
    const now = new Date();
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: now.toISOString() },
      spec: {
        audiences: request?.spec?.audiences ?? ['https://kubernetes.default.svc.cluster.local'],
        expirationSeconds: seconds,
        boundObjectRef: request?.spec?.boundObjectRef ?? null,
      },
      // The sandbox does not expire tokens; the timestamp is what a client would plan with.
      status: { token, expirationTimestamp: new Date(now.getTime() + seconds * 1000).toISOString() },
    };
  }

  private authenticate(authorization: string | undefined): UserInfo | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return undefined;
    const token = match[1]!;
    if (token === ADMIN_TOKEN) return ADMIN;
    const account = this.serviceAccountTokens.get(token);
    if (!account) return undefined;
    // A bound token dies with its ServiceAccount (a new one of the same name has another uid).
    const live = this.store.get(SERVICE_ACCOUNT, account.namespace, account.name);
    if (live?.metadata.uid !== account.uid) return undefined;
    return {
      username: serviceAccountUsername(account.namespace, account.name),
      uid: account.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`, AUTHENTICATED_GROUP],
    };
  }
}

function auditEntry(user: UserInfo, request: RequestInfo, allowed: boolean): AuditEntry {
  const { verb, apiGroup, resource, subresource, namespace, name } = request;
  return {
    user: user.username,
    verb,
    apiGroup,
    resource,
    subresource,
    namespace,
    name,
    ...(request.resourceRequest ? {} : { path: request.path }),
    allowed,
  };
}
