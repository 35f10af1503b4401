// Pod template identity for the sandbox's Deployment controller: the `pod-template-hash` that names
// a ReplicaSet, and the equality that finds an existing ReplicaSet again when a template comes back
// (kubectl rollout undo, a Git revert). Kubernetes hashes a Go rendering of the template; clients
// never recompute it, so any stable hash will do. Equality is what matters, and it is computed on
// templates with API defaults applied, so a template written without defaults (straight into the
// store) and the same template written through the API server still match.

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** Kubernetes' "safe" alphabet for generated names: no vowels, no look-alike characters. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** JSON with object keys sorted and undefined/null members dropped: one spelling per value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value));
}

function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : canonicalize(item)));
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const field of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[field];
      if (member === undefined || member === null) continue;
      sorted[field] = canonicalize(member);
    }
    return sorted;
  }
  return value;
}

/** FNV-1a, 32 bits, over bytes. */
export function fnv32a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Kubernetes' rand.SafeEncodeString: each character mapped into the safe alphabet. */
export function safeEncode(text: string): string {
  let encoded = '';
  for (let i = 0; i < text.length; i++) encoded += SAFE_ALPHABET[text.charCodeAt(i) % SAFE_ALPHABET.length];
  return encoded;
}

/** A random suffix from the safe alphabet, as generateName produces (`<rs>-x7k2p`). */
export function randomSafeSuffix(length = 5): string {
  let suffix = '';
  for (let i = 0; i < length; i++) suffix += SAFE_ALPHABET[Math.floor(Math.random() * SAFE_ALPHABET.length)];
  return suffix;
}

/**
 * Fills in the pod template fields the API server defaults, on a copy. Only the fields a client
 * sees come back in `kubectl get -o yaml`; enough that defaulted and undefaulted spellings of the
 * same template compare equal.
 */
export function applyPodTemplateDefaults(template: any): any {
  const copy = structuredClone(template ?? {});
  const spec = (copy.spec ??= {});
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const container of [...asArray(spec.containers), ...asArray(spec.initContainers)]) {
    if (!container || typeof container !== 'object') continue;
    container.imagePullPolicy ??= defaultPullPolicy(String(container.image ?? ''));
    container.terminationMessagePath ??= '/dev/termination-log';
    container.terminationMessagePolicy ??= 'File';
    container.resources ??= {};
    for (const port of asArray(container.ports))
      if (port && typeof port === 'object') port.protocol ??= 'TCP';
  }
  return copy;
}

function asArray(value: unknown): any[] {
  return Array.isArray(value) ? value : [];
}

/** `:latest` or no tag pulls Always, anything else IfNotPresent (digests included). */
function defaultPullPolicy(image: string): string {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** The template as compared and hashed: defaults applied, `pod-template-hash` label removed. */
function normalizedTemplate(template: unknown): unknown {
  const copy = applyPodTemplateDefaults(template);
  const labels = copy.metadata?.labels;
  if (labels && typeof labels === 'object') {
    delete labels[POD_TEMPLATE_HASH_LABEL];
    if (Object.keys(labels).length === 0) delete copy.metadata.labels;
  }
  if (copy.metadata && Object.keys(copy.metadata).length === 0) delete copy.metadata;
  return copy;
}

/** What two templates must share to be equal: canonical JSON of the normalized template. */
export function templateIdentity(template: unknown): string {
  return canonicalJson(normalizedTemplate(template));
}

/** Kubernetes' EqualIgnoreHash: the same pod template, whatever `pod-template-hash` says. */
export function templatesEqualIgnoringHash(a: unknown, b: unknown): boolean {
  return templateIdentity(a) === templateIdentity(b);
}

/**
 * templateIdentity remembered per template object. Only for objects nobody mutates, such as
 * the controller caches' entries: a changed object keeps its old identity here.
 */
export class TemplateIdentities {
  private readonly known = new WeakMap<object, string>();

  of(template: unknown): string {
    if (template === null || typeof template !== 'object') return templateIdentity(template);
    let identity = this.known.get(template);
    if (identity === undefined) this.known.set(template, (identity = templateIdentity(template)));
    return identity;
  }
}

/**
 * The `pod-template-hash` of a template: FNV-32a of its canonical JSON (plus the Deployment's
 * collisionCount, as Kubernetes mixes it in to step around a name collision), safe-encoded.
 */
export function computePodTemplateHash(template: unknown, collisionCount?: number): string {
  const text = canonicalJson(normalizedTemplate(template));
  const body = new TextEncoder().encode(text);
  let bytes = body;
  if (collisionCount !== undefined && collisionCount > 0) {
    bytes = new Uint8Array(body.length + 4);
    bytes.set(body);
    new DataView(bytes.buffer).setUint32(body.length, collisionCount >>> 0, true);
  }
  return safeEncode(String(fnv32a(bytes)));
}
