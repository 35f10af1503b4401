// Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
// kubectl sends for built-in kinds on `create`: the magic bytes `k8s\0`, then a runtime.Unknown whose
// `raw` is the object's own message. Decoded into the object a JSON request for the same Go struct
// gives, so the rest of the API server never sees protobuf. Answers stay JSON, which kubectl accepts.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { KIND_MESSAGES, PROTO_FILES, UNKNOWN_TYPE } from './proto/k8s-types.ts';
import { type KubeObject, StatusError } from './store.ts';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = Buffer.from('k8s\0', 'latin1');
/** Go's zero time.Time (year 1) as Unix seconds: what a non-pointer, unset Time encodes to. */
const ZERO_TIME_SECONDS = -62135596800;

/**
 * Go pointer fields (`*int32`, `*bool`...) whose zero value is meaningful. gogo-protobuf writes every
 * non-pointer scalar, set or not, so a zero scalar is dropped (as JSON's `omitempty` would) unless
 * the field is one of these, which are only written when the client set them.
 */
const POINTER_SCALARS = new Set([
  'activeDeadlineSeconds',
  'allocateLoadBalancerNodePorts',
  'allowPrivilegeEscalation',
  'automountServiceAccountToken',
  'blockOwnerDeletion',
  'controller',
  'defaultMode',
  'deletionGracePeriodSeconds',
  'enableServiceLinks',
  'expirationSeconds',
  'fsGroup',
  'hostProcess',
  'hostUsers',
  'immutable',
  'minDomains',
  'mode',
  'optional',
  'priority',
  'privileged',
  'progressDeadlineSeconds',
  'readOnlyRootFilesystem',
  'replicas',
  'revisionHistoryLimit',
  'runAsGroup',
  'runAsNonRoot',
  'runAsUser',
  'setHostnameAsFQDN',
  'shareProcessNamespace',
  'terminationGracePeriodSeconds',
  'tolerationSeconds',
]);

/** The protobuf messages of the kinds the sandbox serves, loaded once per API server. */
export class ProtobufBodies {
  private readonly root = new protobuf.Root();

  constructor() {
    for (const { file } of PROTO_FILES) {
      const text = readFileSync(new URL(`./proto/${file}`, import.meta.url), 'utf8');
      protobuf.parse(text, this.root, { keepCase: true });
    }
    this.root.resolveAll();
  }

  /** Decodes one enveloped object; a body that is not one answers 400, never 500. */
  decode(body: Buffer): KubeObject {
    if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw badRequest('it does not start with the "k8s\\0" protobuf envelope');
    }
    const unknown = this.parse(this.root.lookupType(UNKNOWN_TYPE), body.subarray(MAGIC.length));
    const typeMeta = (unknown['typeMeta'] ?? {}) as { apiVersion?: string; kind?: string };
    const apiVersion = typeMeta.apiVersion ?? '';
    const kind = typeMeta.kind ?? '';
    const encoding = unknown['contentEncoding'];
    if (typeof encoding === 'string' && encoding !== '') {
      throw badRequest(`content encoding "${encoding}" is not supported`);
    }
    const messageName = KIND_MESSAGES[`${apiVersion}/${kind}`];
    if (!messageName) {
      throw new StatusError(
        415,
        'UnsupportedMediaType',
        `the sandbox cannot decode ${kind || 'an object without kind'} (${apiVersion || 'no apiVersion'}) from protobuf; send it as JSON`,
      );
    }
    const raw = unknown['raw'];
    const type = this.root.lookupType(messageName);
    const object = this.toJson(type, raw instanceof Uint8Array ? raw : new Uint8Array());
    return { apiVersion, kind, ...object } as KubeObject;
  }

  private toJson(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
    const message = this.parse(type, bytes);
    return convertMessage(type, message);
  }

  private parse(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
    try {
      return type.decode(bytes);
    } catch (error) {
      throw badRequest(`${type.name}: ${(error as Error).message}`);
    }
  }
}

function badRequest(why: string): StatusError {
  return new StatusError(400, 'BadRequest', `the request body is not a valid protobuf object: ${why}`);
}

/** A decoded message as Kubernetes' JSON encoding of the same Go struct. */
function convertMessage(type: protobuf.Type, message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(message, field.name)) continue;
    const value = message[field.name];
    if (field instanceof protobuf.MapField) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) continue;
      out[field.name] = Object.fromEntries(entries.map(([k, v]) => [k, convertValue(field, v)]));
    } else if (field.repeated) {
      const items = value as unknown[];
      if (items.length === 0) continue;
      out[field.name] = items.map((item) => convertValue(field, item));
    } else {
      const converted = convertValue(field, value);
      if (converted === undefined) continue;
      if (isZeroScalar(converted) && !POINTER_SCALARS.has(field.name)) continue;
      out[field.name] = converted;
    }
  }
  return out;
}

function isZeroScalar(value: unknown): boolean {
  return value === '' || value === 0 || value === false;
}

function convertValue(field: protobuf.Field, value: unknown): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    return convertSpecial(resolved, value as Record<string, unknown>);
  }
  return convertScalar(value);
}

function convertScalar(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  // int64s decode to Long objects; Kubernetes' values all fit a double.
  if (typeof value === 'object' && value !== null && 'toNumber' in value)
    return (value as { toNumber(): number }).toNumber();
  return value;
}

/** The types whose JSON form is not an object: times, quantities, int-or-strings, raw JSON. */
function convertSpecial(type: protobuf.Type, message: Record<string, unknown>): unknown {
  switch (type.fullName) {
    case '.k8s.io.apimachinery.pkg.apis.meta.v1.Time':
      return timestamp(message, false);
    case '.k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime':
      return timestamp(message, true);
    case '.k8s.io.apimachinery.pkg.api.resource.Quantity':
      return typeof message['string'] === 'string' ? message['string'] : undefined;
    case '.k8s.io.apimachinery.pkg.util.intstr.IntOrString':
      return Number(message['type'] ?? 0) === 1 ? (message['strVal'] ?? '') : (message['intVal'] ?? 0);
    case '.k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1':
      return rawJson(message['Raw']);
    case '.k8s.io.apimachinery.pkg.runtime.RawExtension':
      return rawJson(message['raw']);
    default:
      return convertMessage(type, message);
  }
}

function timestamp(message: Record<string, unknown>, micro: boolean): string | undefined {
  // An unset metav1.Time marshals to an empty message.
  if (!Object.prototype.hasOwnProperty.call(message, 'seconds')) return undefined;
  const seconds = Number(convertScalar(message['seconds']));
  const nanos = Number(message['nanos'] ?? 0);
  if (seconds <= ZERO_TIME_SECONDS) return undefined; // an unset Go time.Time
  const iso = new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, '');
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${iso}Z`;
}

function rawJson(bytes: unknown): unknown {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw badRequest('an embedded JSON value is not valid JSON');
  }
}
