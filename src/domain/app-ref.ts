import { InvalidInputError } from './errors.ts';

export const ENGINES = ['flux-kustomization', 'flux-helmrelease', 'argo-application'] as const;
export type EngineKind = (typeof ENGINES)[number];

/** Identifies one GitOps application object in the cluster. */
export interface AppRef {
  readonly engine: EngineKind;
  readonly namespace: string;
  readonly name: string;
}

// RFC 1123 DNS label (namespaces) and subdomain (object names), as Kubernetes validates them.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

const ENGINE_ALIASES: Readonly<Record<string, EngineKind>> = {
  'flux-kustomization': 'flux-kustomization',
  kustomization: 'flux-kustomization',
  ks: 'flux-kustomization',
  'flux-helmrelease': 'flux-helmrelease',
  helmrelease: 'flux-helmrelease',
  hr: 'flux-helmrelease',
  'argo-application': 'argo-application',
  application: 'argo-application',
  app: 'argo-application',
};

export function isEngineKind(value: unknown): value is EngineKind {
  return typeof value === 'string' && (ENGINES as readonly string[]).includes(value);
}

export function defaultNamespaceFor(engine: EngineKind): string {
  return engine === 'argo-application' ? 'argocd' : 'flux-system';
}

export function appRef(engine: EngineKind, namespace: string, name: string): AppRef {
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) {
    throw new InvalidInputError(
      `Invalid namespace "${namespace}": use a lowercase DNS label (a-z, 0-9, '-').`,
    );
  }
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    throw new InvalidInputError(`Invalid app name "${name}": use a lowercase DNS name (a-z, 0-9, '-', '.').`);
  }
  return { engine, namespace, name };
}

export interface ParseAppRefDefaults {
  readonly engine?: EngineKind;
  readonly namespace?: string;
}

/**
 * Parses user input: `podinfo`, `flux-system/podinfo`, `kustomization/flux-system/podinfo`,
 * `hr/default/podinfo`. Missing parts come from `defaults` (engine defaults to flux-kustomization).
 */
export function parseAppRef(input: string, defaults: ParseAppRefDefaults = {}): AppRef {
  const parts = input.trim().split('/');
  let engine = defaults.engine ?? 'flux-kustomization';
  let namespace: string | undefined;
  let name: string | undefined;
  if (parts.length === 3) {
    const alias = ENGINE_ALIASES[(parts[0] ?? '').toLowerCase()];
    if (alias === undefined) {
      throw new InvalidInputError(
        `Unknown engine "${parts[0]}" in "${input}": use one of ${ENGINES.join(', ')} (or ks, hr, app).`,
      );
    }
    engine = alias;
    [, namespace, name] = parts;
  } else if (parts.length === 2) {
    [namespace, name] = parts;
  } else if (parts.length === 1) {
    [name] = parts;
  } else {
    throw new InvalidInputError(`Cannot read an app from "${input}": expected [engine/][namespace/]name.`);
  }
  return appRef(engine, namespace ?? defaults.namespace ?? defaultNamespaceFor(engine), name ?? '');
}

const ENGINE_SHORT: Readonly<Record<EngineKind, string>> = {
  'flux-kustomization': 'ks',
  'flux-helmrelease': 'hr',
  'argo-application': 'argo',
};

/**
 * A stable key for maps, locks and BullMQ job ids: `ks.flux-system.podinfo`. No ':' (BullMQ reserves
 * it); namespaces are DNS labels (no '.'), so the first two dots split it unambiguously.
 */
export function appKey(app: AppRef): string {
  return `${ENGINE_SHORT[app.engine]}.${app.namespace}.${app.name}`;
}

const REF_PREFIX: Readonly<Record<EngineKind, string>> = {
  'flux-kustomization': 'ks',
  'flux-helmrelease': 'hr',
  'argo-application': 'app',
};

/** The ref a person types to name this app again (`ks/flux-system/podinfo`, `app/argocd/web`). */
export function appRefText(app: AppRef): string {
  return `${REF_PREFIX[app.engine]}/${app.namespace}/${app.name}`;
}

/** The human form used in messages and PR bodies: `flux-system/podinfo`. */
export function appLabel(app: AppRef): string {
  return `${app.namespace}/${app.name}`;
}

export function sameApp(a: AppRef, b: AppRef): boolean {
  return a.engine === b.engine && a.namespace === b.namespace && a.name === b.name;
}
