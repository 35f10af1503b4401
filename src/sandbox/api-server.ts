// The sandbox's Kubernetes API server: plain HTTP + JSON over the in-memory ObjectStore, close
// enough to kube-apiserver that kubectl (1.27..1.33) and @kubernetes/client-node work unchanged.
// Discovery, OpenAPI stubs and Table printing live next door (openapi.ts, tables.ts, patch.ts);
// this file routes requests, maps verbs onto the store and streams watches.
import { type AccessOptions, AccessControl } from './access-control.ts';
import { AUTHORIZATION_GROUP, AUTHORIZATION_VERSION, REVIEW_RESOURCES, review } from './access-review.ts';
import { applyObjectDefaults } from './defaults.ts';
import { type DeleteOptions, InvalidDeleteOptions, deleteOptionsOf } from './deletion.ts';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { fieldManagerOf, recordUpdate } from './managed-fields.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.ts';
import { openApiV2, openApiV3GroupVersion, openApiV3Root } from './openapi.ts';
import { pageOf } from './paging.ts';
import { PROTOBUF_MEDIA_TYPE, ProtobufBodies } from './protobuf-body.ts';
import { EVENTS_V1_VIEW, type ObjectView } from './events-view.ts';
import {
  DEPLOYMENT,
  EVENT,
  EVENTS_K8S_IO_EVENT,
  NAMESPACE,
  RESOURCES,
  type ResourceType,
  type Subresource,
  apiVersionOf,
  resourceByPlural,
} from './resources.ts';
import type { UserInfo } from './rbac-authorizer.ts';
import { requestInfo } from './request-info.ts';
import { checkApplyTarget, planApply } from './server-side-apply.ts';
import { type KubeObject, type ListOptions, type ObjectStore, StatusError } from './store.ts';
import { type IncludeObject, toTable } from './tables.ts';

export interface ApiServerOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Authentication, authorization (RBAC) and audit; default: everyone may do everything. */
  access?: AccessOptions;
  /** Serve https with this certificate (kubectl sends tokens only over TLS). */
  tls?: { key: string; cert: string };
}

/** kubectl's gcloud dispatcher picks the client version matching this, so keep it a real release. */
const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '59526cd4867447956156ae3a602fcbac10a2c335',
  gitTreeState: 'clean',
  buildDate: '2025-04-22T16:02:27Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** Real servers send a bookmark about once a minute; the sandbox's clocks are faster. */
const BOOKMARK_INTERVAL_MS = 1000;
/**
 * Kinds served by the API server from Kubernetes itself accept strategic merge patches: the core
 * group, the unsuffixed groups (apps, batch, ...) and the *.k8s.io ones; custom kinds do not.
 */
function isBuiltInGroup(group: string): boolean {
  return group === '' || !group.includes('.') || group.endsWith('.k8s.io');
}
const APPLY_PATCH = 'application/apply-patch+yaml';

/** Which object (or collection) a request is about. */
interface Target {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: Subresource | undefined;
  /** Set when the served kind is a view of another stored kind (events.k8s.io/v1 Events). */
  view?: ObjectView | undefined;
}

/** How the client wants objects rendered: as they are, or as a meta.k8s.io Table. */
interface Rendering {
  table: boolean;
  include: IncludeObject;
}

/** An open watch response; `end` finishes it cleanly so clients reconnect rather than fail. */
interface OpenWatch {
  end(): void;
}

function statusFailure(code: number, reason: string, message: string): StatusError {
  return new StatusError(code, reason, message);
}

const notFoundPath = () => statusFailure(404, 'NotFound', 'the server could not find the requested resource');

export class ApiServer {
  readonly stats = { requests: 0 };
  readonly access: AccessControl;
  private server: http.Server | undefined;
  private readonly watches = new Set<OpenWatch>();
  private readonly protobufBodies = new ProtobufBodies();
  private address = '';

  constructor(
    readonly store: ObjectStore,
    readonly options: ApiServerOptions = {},
  ) {
    this.access = new AccessControl(store, options.access);
  }

  /** Starts serving; resolves to the base URL, e.g. http://127.0.0.1:40123. */
  async listen(): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.handle(req, res);
    const tls = this.options.tls;
    const server = tls
      ? https.createServer({ key: tls.key, cert: tls.cert }, handler)
      : http.createServer(handler);
    this.server = server;
    const host = this.options.host ?? '127.0.0.1';
    // After a restart, the port it had (clients keep the URL from their kubeconfig).
    const wanted = this.address ? Number(this.address.split(':').pop()) : (this.options.port ?? 0);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(wanted, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    this.address = `${host}:${port}`;
    return `${tls ? 'https' : 'http'}://${this.address}`;
  }

  /** Ends every open watch (clients see a clean end of stream and re-watch); returns how many. */
  dropWatches(): number {
    const open = [...this.watches];
    for (const watch of open) watch.end();
    return open.length;
  }

  /**
   * What an API server restart looks like to clients: every connection and watch is cut, requests
   * are refused for `downMs`, then it serves again on the same address with the same objects.
   */
  async restart(downMs = 0): Promise<void> {
    await this.close();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.listen();
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.dropWatches();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.stats.requests++;
    try {
      const url = new URL(req.url ?? '/', 'http://sandbox');
      const user = this.access.admit(req.headers.authorization, requestInfo(req.method ?? 'GET', url));
      await this.route(req, res, url, user);
    } catch (error) {
      sendError(res, error);
    }
  }

  private async route(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    user: UserInfo,
  ): Promise<void> {
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const [root, ...rest] = segments;
    if (root === 'version' && rest.length === 0) return sendJson(res, 200, SERVER_VERSION);
    if (root === 'healthz' || root === 'readyz' || root === 'livez') return sendText(res, 200, 'ok');
    if (root === 'openapi') return this.serveOpenApi(req, res, rest);
    if (root === 'api' && rest.length === 0) return sendJson(res, 200, this.apiVersions());
    if (root === 'apis' && rest.length === 0) return sendJson(res, 200, apiGroupList());
    if (root === 'apis' && rest.length === 1) return sendJson(res, 200, apiGroup(rest[0]!));
    const groupVersion = root === 'api' ? { group: '', version: rest[0]!, rest: rest.slice(1) } : undefined;
    const named =
      root === 'apis' && rest.length >= 2
        ? { group: rest[0]!, version: rest[1]!, rest: rest.slice(2) }
        : undefined;
    const gv = groupVersion ?? named;
    if (!gv) throw notFoundPath();
    if (gv.rest.length === 0) return sendJson(res, 200, apiResourceList(gv.group, gv.version));
    if (gv.group === AUTHORIZATION_GROUP && gv.version === AUTHORIZATION_VERSION)
      return this.serveReview(req, res, user, gv.rest);
    // Legacy `/api/v1/watch/...` paths mean the same as `?watch=true`.
    const legacyWatch = gv.rest[0] === 'watch';
    const target = resolveTarget(gv.group, gv.version, legacyWatch ? gv.rest.slice(1) : gv.rest);
    return this.serveResource(req, res, url, target, legacyWatch);
  }

  private apiVersions(): Record<string, unknown> {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.address }],
    };
  }

  private serveOpenApi(req: http.IncomingMessage, res: http.ServerResponse, rest: string[]): void {
    if (rest[0] === 'v2' && rest.length === 1) {
      // kubectl asks for the protobuf form and parses the body with proto.Unmarshal: an empty body
      // is a valid, empty document. Anyone asking for JSON gets an empty Swagger document.
      if ((req.headers.accept ?? '').includes('protobuf')) {
        res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' });
        res.end();
        return;
      }
      return sendJson(res, 200, openApiV2(SERVER_VERSION.gitVersion));
    }
    if (rest[0] === 'v3' && rest.length === 1)
      return sendJson(res, 200, openApiV3Root(SERVER_VERSION.gitCommit));
    if (rest[0] === 'v3') {
      const document = openApiV3GroupVersion(rest.slice(1).join('/'), SERVER_VERSION.gitVersion);
      if (document) return sendJson(res, 200, document);
    }
    throw notFoundPath();
  }

  private async serveResource(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    target: Target,
    legacyWatch: boolean,
  ): Promise<void> {
    const query = url.searchParams;
    const rendering = renderingOf(req, query);
    const dryRun = query.has('dryRun');
    const manager = fieldManagerOf(query.get('fieldManager'), req.headers['user-agent']);
    if (target.subresource === 'token' && req.method !== 'POST') throw methodNotAllowed(req.method ?? '');
    switch (req.method) {
      case 'GET': {
        if (target.name !== undefined && !legacyWatch) return this.getOne(res, target, rendering);
        if (legacyWatch || isTrue(query.get('watch'))) return this.watch(res, target, query, rendering);
        return this.list(res, target, query, rendering);
      }
      case 'POST':
        if (target.subresource === 'token') return this.createToken(req, res, target);
        if (target.name !== undefined) throw methodNotAllowed(req.method);
        return sendJson(
          res,
          201,
          shown(
            target,
            this.create(target, stored(target, await readObject(req, this.protobufBodies)), dryRun, manager),
          ),
        );
      case 'PUT':
        return sendJson(
          res,
          200,
          shown(
            target,
            this.replace(target, stored(target, await readObject(req, this.protobufBodies)), dryRun, manager),
          ),
        );
      case 'PATCH': {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        if (contentType === APPLY_PATCH) return this.apply(res, target, await readBody(req), query, dryRun);
        return sendJson(
          res,
          200,
          shown(target, this.patch(target, await readBody(req), contentType, dryRun, manager)),
        );
      }
      case 'DELETE': {
        const options = requestDeleteOptions(await readBody(req), query);
        if (target.name === undefined)
          return sendJson(res, 200, this.deleteCollection(target, query, options, dryRun));
        return sendJson(res, 200, shown(target, this.deleteOne(target, options, dryRun)));
      }
      default:
        throw methodNotAllowed(req.method ?? '');
    }
  }

  /** TokenRequest: a token for the ServiceAccount, as `kubectl create token` asks for it. */
  private async createToken(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    target: Target,
  ): Promise<void> {
    const body = await readBody(req);
    // kubectl sends it as protobuf, whose authentication.k8s.io messages the sandbox does not carry:
    // the spec only shapes the answer (sandbox tokens do not expire), so such a body is not read.
    const json = (req.headers['content-type'] ?? '').includes('json');
    const request = json && body.length > 0 ? parseDocument(body, false) : undefined;
    sendJson(res, 201, this.access.tokenRequest(target.namespace ?? 'default', requireName(target), request));
  }

  /** SelfSubjectAccessReview / SelfSubjectRulesReview: create-only, answered and not stored. */
  private async serveReview(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    user: UserInfo,
    path: string[],
  ): Promise<void> {
    if (path.length !== 1 || !REVIEW_RESOURCES.some((r) => r.name === path[0])) throw notFoundPath();
    if (req.method !== 'POST') throw methodNotAllowed(req.method ?? '');
    const body = await readObject(req, this.protobufBodies);
    sendJson(res, 201, review(this.store, this.access.mode, user, path[0]!, body));
  }

  // --- reads ----------------------------------------------------------------------------------

  private getOne(res: http.ServerResponse, target: Target, rendering: Rendering): void {
    const object = this.store.mustGet(target.type, target.namespace, target.name!);
    if (target.subresource === 'scale') return sendJson(res, 200, scaleOf(object));
    if (rendering.table)
      return sendJson(res, 200, toTable(target.type, [object], { include: rendering.include }));
    sendJson(res, 200, shown(target, object));
  }

  private list(res: http.ServerResponse, target: Target, query: URLSearchParams, rendering: Rendering): void {
    const options = listOptions(target, query);
    const filtered = Boolean(options.labelSelector || options.fieldSelector);
    const { items, metadata } = pageOf(this.store.list(target.type, options), query, this.store, filtered);
    if (rendering.table) {
      const table = toTable(target.type, items, { include: rendering.include });
      return sendJson(res, 200, { ...table, metadata });
    }
    sendJson(res, 200, {
      kind: `${target.type.kind}List`,
      apiVersion: target.view?.apiVersion ?? apiVersionOf(target.type),
      metadata,
      items: items.map((item) => shown(target, item)),
    });
  }

  /**
   * Streams newline-delimited watch events. Without a resourceVersion (or "0") the current objects
   * come first as synthetic ADDED events; with one, the store replays what happened since. A
   * compacted resourceVersion answers 200 with one ERROR event carrying a 410 Status and ends the
   * stream, as kube-apiserver does: client-node's ListWatch then re-lists.
   */
  private watch(
    res: http.ServerResponse,
    target: Target,
    query: URLSearchParams,
    rendering: Rendering,
  ): void {
    const options = listOptions(target, query);
    const since = query.get('resourceVersion') ?? '';
    let first = true;
    const send = (type: string, object: unknown): void => {
      const rendered =
        rendering.table && type !== 'ERROR' && type !== 'BOOKMARK'
          ? toTable(target.type, [object as KubeObject], { include: rendering.include, withColumns: first })
          : type === 'ERROR' || type === 'BOOKMARK'
            ? object
            : shown(target, object as KubeObject);
      first = false;
      res.write(`${JSON.stringify({ type, object: rendered })}\n`);
    };
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-cache, private');

    let unsubscribe: () => void;
    try {
      if (since === '' || since === '0') {
        for (const object of this.store.list(target.type, options)) send('ADDED', object);
        unsubscribe = this.store.watch(target.type, (event) => send(event.type, event.object), options);
      } else {
        unsubscribe = this.store.watch(target.type, (event) => send(event.type, event.object), {
          ...options,
          sinceResourceVersion: since,
        });
      }
    } catch (error) {
      if (!(error instanceof StatusError) || error.code !== 410) throw error;
      send('ERROR', error.toStatus());
      res.end();
      return;
    }
    res.flushHeaders();

    const timers: NodeJS.Timeout[] = [];
    const open: OpenWatch = {
      end: () => {
        cleanup();
        res.end();
      },
    };
    const cleanup = (): void => {
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
      this.watches.delete(open);
    };
    this.watches.add(open);
    res.on('close', cleanup);
    if (isTrue(query.get('allowWatchBookmarks'))) {
      const bookmark = () =>
        send('BOOKMARK', {
          kind: target.type.kind,
          apiVersion: apiVersionOf(target.type),
          metadata: { resourceVersion: this.store.resourceVersion },
        });
      timers.push(setInterval(bookmark, BOOKMARK_INTERVAL_MS));
    }
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) timers.push(setTimeout(() => open.end(), timeoutSeconds * 1000));
  }

  // --- writes ---------------------------------------------------------------------------------

  private create(target: Target, input: KubeObject, dryRun: boolean, manager: string): KubeObject {
    const { type } = target;
    checkKind(type, input);
    const object = structuredClone(input);
    object.metadata ??= { name: '' };
    if (type.namespaced) {
      const namespace = object.metadata.namespace ?? target.namespace ?? 'default';
      if (target.namespace && namespace !== target.namespace) throw namespaceMismatch();
      object.metadata.namespace = namespace;
    }
    // With a status subresource, the main resource never sets status: creates start without one.
    if (type === NAMESPACE) object.status = { phase: 'Active' };
    else if (type.subresources.includes('status')) delete object.status;
    applyObjectDefaults(type, object);
    validate(type, object);
    recordUpdate(type, undefined, object, manager);
    if (!dryRun) return this.store.create(type, object);
    const existing = object.metadata.name
      ? this.store.get(type, object.metadata.namespace, object.metadata.name)
      : undefined;
    if (existing)
      throw new StatusError(
        409,
        'AlreadyExists',
        `${qualified(type)} "${object.metadata.name}" already exists`,
      );
    return object;
  }

  private replace(
    target: Target,
    input: KubeObject,
    dryRun: boolean,
    manager: string,
  ): KubeObject | Record<string, unknown> {
    const name = requireName(target);
    if (input.metadata?.name && input.metadata.name !== name) {
      throw statusFailure(
        400,
        'BadRequest',
        `the name of the object (${input.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (target.subresource === 'scale') return this.writeScale(target, input, dryRun, manager);
    checkKind(target.type, input);
    const object: KubeObject = { ...input, metadata: { ...input.metadata, name } };
    if (target.type.namespaced) {
      if (object.metadata.namespace && object.metadata.namespace !== target.namespace)
        throw namespaceMismatch();
      object.metadata.namespace = target.namespace ?? 'default';
    }
    return this.write(target, object, dryRun, manager);
  }

  /** Stores a full object for the main resource or its status subresource. */
  private write(target: Target, object: KubeObject, dryRun: boolean, manager: string): KubeObject {
    const current = this.store.mustGet(target.type, target.namespace, object.metadata.name);
    if (target.subresource !== 'status') {
      applyObjectDefaults(target.type, object);
      validate(target.type, object);
      recordUpdate(target.type, current, object, manager);
    }
    if (dryRun) return object;
    return this.store.update(
      target.type,
      object,
      target.subresource === 'status' ? { subresource: 'status' } : {},
    );
  }

  private patch(
    target: Target,
    body: Buffer,
    contentType: string,
    dryRun: boolean,
    manager: string,
  ): KubeObject | Record<string, unknown> {
    const name = requireName(target);
    const applyPatch = patcherFor(target.type, contentType);
    const current = this.store.mustGet(target.type, target.namespace, name);
    const base = target.subresource === 'scale' ? scaleOf(current) : shown(target, current);
    const patched = stored(target, applyPatch(base, parseJson(body)));
    if (target.subresource === 'scale') return this.writeScale(target, patched, dryRun, manager);
    // A patch cannot move an object.
    patched.metadata = { ...patched.metadata, name };
    if (target.type.namespaced) patched.metadata.namespace = current.metadata.namespace!;
    return this.write(target, patched, dryRun, manager);
  }

  /**
   * Server-side apply: creates the object when absent (201), else merges the configuration into
   * it under field-manager ownership (server-side-apply.ts). kube-apiserver refuses an apply
   * without a fieldManager with 422 (PatchOptions validation).
   */
  private apply(
    res: http.ServerResponse,
    target: Target,
    body: Buffer,
    query: URLSearchParams,
    dryRun: boolean,
  ): void {
    const name = requireName(target);
    if (target.subresource) {
      throw statusFailure(
        415,
        'UnsupportedMediaType',
        'the sandbox does not serve server-side apply on subresources',
      );
    }
    const manager = query.get('fieldManager');
    if (!manager) {
      throw new StatusError(
        422,
        'Invalid',
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        { kind: 'PatchOptions', group: 'meta.k8s.io' },
      );
    }
    const config = checkApplyTarget(target.type, parseDocument(body, true), name, target.namespace);
    const live = this.store.get(target.type, target.namespace, name);
    const next = planApply(target.type, live, config, { manager, force: isTrue(query.get('force')) });
    if (!live) {
      if (target.type === NAMESPACE) next.status = { phase: 'Active' };
      applyObjectDefaults(target.type, next);
      validate(target.type, next);
      return sendJson(res, 201, dryRun ? next : this.store.create(target.type, next));
    }
    applyObjectDefaults(target.type, next);
    validate(target.type, next);
    sendJson(res, 200, dryRun ? next : this.store.update(target.type, next));
  }

  /** PUT/PATCH of `.../scale`: the Scale's spec.replicas becomes the workload's. */
  private writeScale(target: Target, scale: any, dryRun: boolean, manager: string): Record<string, unknown> {
    const replicas = scale?.spec?.replicas;
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new StatusError(
        422,
        'Invalid',
        `Scale.autoscaling "${target.name}" is invalid: spec.replicas: Invalid value: must be a non-negative integer`,
      );
    }
    const current = this.store.mustGet(target.type, target.namespace, requireName(target));
    const expected = scale?.metadata?.resourceVersion;
    const next: KubeObject = {
      ...current,
      spec: { ...current.spec, replicas },
      metadata: { ...current.metadata, resourceVersion: typeof expected === 'string' ? expected : '' },
    };
    recordUpdate(target.type, current, next, manager, 'scale');
    if (dryRun) return scaleOf(next);
    return scaleOf(this.store.update(target.type, next));
  }

  private deleteOne(target: Target, options: DeleteOptions, dryRun: boolean): KubeObject {
    const name = requireName(target);
    const current = this.store.mustGet(target.type, target.namespace, name);
    const preconditions = options.preconditions;
    const mismatch =
      (preconditions?.uid && preconditions.uid !== current.metadata.uid) ||
      (preconditions?.resourceVersion && preconditions.resourceVersion !== current.metadata.resourceVersion);
    if (mismatch) {
      throw new StatusError(
        409,
        'Conflict',
        `Precondition failed for ${qualified(target.type)} "${name}": the object has changed`,
      );
    }
    return dryRun ? current : this.store.delete(target.type, target.namespace, name, options);
  }

  private deleteCollection(
    target: Target,
    query: URLSearchParams,
    options: DeleteOptions,
    dryRun: boolean,
  ): Record<string, unknown> {
    const items = this.store.list(target.type, listOptions(target, query));
    const deleted = dryRun
      ? items
      : items.map((item) =>
          this.store.delete(target.type, item.metadata.namespace, item.metadata.name, options),
        );
    return {
      kind: `${target.type.kind}List`,
      apiVersion: apiVersionOf(target.type),
      metadata: { resourceVersion: this.store.resourceVersion },
      items: deleted,
    };
  }
}

// --- routing helpers ----------------------------------------------------------------------------

/**
 * Maps the path after the group-version onto a kind: `[namespaces/<ns>/]<plural>[/<name>[/<sub>]]`.
 * `namespaces/<name>[/status]` is the Namespace object itself.
 */
function resolveTarget(group: string, version: string, path: string[]): Target {
  let namespace: string | undefined;
  let rest = path;
  const namespacedPlural =
    path[0] === 'namespaces' && path.length >= 3 ? resourceByPlural(group, version, path[2]!) : undefined;
  if (namespacedPlural?.namespaced) {
    namespace = path[1];
    rest = path.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  const type = plural === undefined ? undefined : resourceByPlural(group, version, plural);
  if (!type || extra.length > 0) throw notFoundPath();
  if (subresource !== undefined && !(type.subresources as readonly string[]).includes(subresource))
    throw notFoundPath();
  if (type === EVENTS_K8S_IO_EVENT)
    return { type: EVENT, namespace, name, subresource: undefined, view: EVENTS_V1_VIEW };
  return { type, namespace, name, subresource: subresource as Target['subresource'] };
}

/** An object as the requested group-version shows it. */
function shown<T>(target: Target, object: T): T {
  return target.view ? (target.view.fromStored(object as KubeObject) as T) : object;
}

/** A request's object as the store keeps it. */
function stored<T>(target: Target, object: T): T {
  return target.view ? (target.view.toStored(object as KubeObject) as T) : object;
}

function listOptions(target: Target, query: URLSearchParams): ListOptions {
  let fieldSelector = query.get('fieldSelector') ?? undefined;
  // A watch on a named path (legacy /watch/.../<name>) watches that one object.
  if (target.name !== undefined) {
    const byName = `metadata.name=${target.name}`;
    fieldSelector = fieldSelector ? `${fieldSelector},${byName}` : byName;
  }
  return {
    namespace: target.type.namespaced ? target.namespace : undefined,
    labelSelector: query.get('labelSelector') ?? undefined,
    fieldSelector,
  };
}

function renderingOf(req: http.IncomingMessage, query: URLSearchParams): Rendering {
  // kubectl get: `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;...`
  const accept = req.headers.accept ?? '';
  const table = accept.split(',').some((part) => /;\s*as=Table/.test(part) && /g=meta\.k8s\.io/.test(part));
  const include = query.get('includeObject');
  return { table, include: include === 'None' || include === 'Object' ? include : 'Metadata' };
}

function isTrue(value: string | null): boolean {
  return value === 'true' || value === '1';
}

function requireName(target: Target): string {
  if (target.name === undefined) throw methodNotAllowed('this method on a collection');
  return target.name;
}

function qualified(type: ResourceType): string {
  return type.group ? `${type.plural}.${type.group}` : type.plural;
}

function methodNotAllowed(method: string): StatusError {
  return statusFailure(405, 'MethodNotAllowed', `${method} is not supported on this resource`);
}

function namespaceMismatch(): StatusError {
  return statusFailure(
    400,
    'BadRequest',
    'the namespace of the provided object does not match the namespace sent on the request',
  );
}

function checkKind(type: ResourceType, object: KubeObject): void {
  const apiVersion = apiVersionOf(type);
  if ((object.kind && object.kind !== type.kind) || (object.apiVersion && object.apiVersion !== apiVersion)) {
    throw statusFailure(
      400,
      'BadRequest',
      `the API version in the data (${object.apiVersion}) and kind (${object.kind}) do not match ${apiVersion} ${type.kind}`,
    );
  }
}

// --- discovery ----------------------------------------------------------------------------------

/** Group/versions served: the stored kinds' and authorization.k8s.io/v1 (the access reviews). */
function servedVersions(): { group: string; version: string }[] {
  const all = [
    ...RESOURCES.map(({ group, version }) => ({ group, version })),
    { group: AUTHORIZATION_GROUP, version: AUTHORIZATION_VERSION },
  ];
  return all.filter((gv, i) => all.findIndex((o) => o.group === gv.group && o.version === gv.version) === i);
}

function apiGroupList(): Record<string, unknown> {
  const groups = [...new Set(servedVersions().map(({ group }) => group))].filter((group) => group !== '');
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(groupDocument) };
}

function groupDocument(group: string): Record<string, unknown> {
  const versions = servedVersions().filter((gv) => gv.group === group);
  const entries = versions.map(({ version }) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions: entries, preferredVersion: entries[0] };
}

function apiGroup(group: string): Record<string, unknown> {
  if (group === '' || !servedVersions().some((gv) => gv.group === group)) throw notFoundPath();
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupDocument(group) };
}

function apiResourceList(group: string, version: string): Record<string, unknown> {
  if (group === AUTHORIZATION_GROUP && version === AUTHORIZATION_VERSION) {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: `${group}/${version}`,
      resources: REVIEW_RESOURCES,
    };
  }
  const types = RESOURCES.filter((type) => type.group === group && type.version === version);
  if (types.length === 0) throw notFoundPath();
  const resources = types.flatMap((type) => [
    {
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs: type.verbs,
      ...(type.shortNames.length ? { shortNames: type.shortNames } : {}),
      ...(type.categories.length ? { categories: type.categories } : {}),
    },
    ...type.subresources.map((sub) => ({
      name: `${type.plural}/${sub}`,
      singularName: '',
      namespaced: type.namespaced,
      ...subresourceKind(type, sub),
    })),
  ]);
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

/** What a subresource's discovery entry says it takes and returns. */
function subresourceKind(type: ResourceType, sub: Subresource): Record<string, unknown> {
  switch (sub) {
    case 'scale':
      return { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] };
    case 'token':
      return { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] };
    case 'status':
      return { kind: type.kind, verbs: ['get', 'patch', 'update'] };
  }
}

// --- object rules -------------------------------------------------------------------------------

/** Renders a label selector as Scale.status.selector does: `a=b,c in (d,e)`. */
function selectorString(selector: any): string {
  const labels = Object.entries((selector?.matchLabels ?? {}) as Record<string, string>).map(
    ([k, v]) => `${k}=${v}`,
  );
  const expressions = ((selector?.matchExpressions ?? []) as any[]).map((e) => {
    const op = String(e.operator);
    if (op === 'Exists') return String(e.key);
    if (op === 'DoesNotExist') return `!${e.key}`;
    return `${e.key} ${op.toLowerCase()} (${(e.values ?? []).join(',')})`;
  });
  return [...labels, ...expressions].join(',');
}

function scaleOf(object: KubeObject): Record<string, unknown> {
  const { name, namespace, uid, resourceVersion, creationTimestamp } = object.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: object.spec?.replicas ?? 0 },
    status: { replicas: object.status?.replicas ?? 0, selector: selectorString(object.spec?.selector) },
  };
}

/** The few validations whose 422s clients rely on; everything else is accepted. */
function validate(type: ResourceType, object: KubeObject): void {
  if (type !== DEPLOYMENT) return;
  const causes: string[] = [];
  const spec = object.spec ?? {};
  if (!spec.selector) causes.push('spec.selector: Required value');
  const labels = spec.template?.metadata?.labels ?? {};
  for (const [k, v] of Object.entries((spec.selector?.matchLabels ?? {}) as Record<string, string>)) {
    if (labels[k] !== v)
      causes.push(
        'spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`',
      );
  }
  const containers = spec.template?.spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0)
    causes.push('spec.template.spec.containers: Required value');
  if (causes.length > 0) {
    throw new StatusError(
      422,
      'Invalid',
      `Deployment.apps "${object.metadata.name}" is invalid: ${[...new Set(causes)].join(', ')}`,
      {
        name: object.metadata.name,
        kind: 'Deployment',
        group: 'apps',
      },
    );
  }
}

type Patcher = (current: unknown, patch: unknown) => any;

/**
 * Picks the patch format from the Content-Type, before the object is read, so an unsupported one
 * (server-side apply, strategic merge on a custom kind, as on a real cluster) is a 415 even for an
 * object that does not exist.
 */
function patcherFor(type: ResourceType, contentType: string): Patcher {
  const builtIn = isBuiltInGroup(type.group);
  switch (contentType) {
    case 'application/merge-patch+json':
      return applyMergePatch;
    case 'application/json-patch+json':
      return applyJsonPatch;
    case 'application/strategic-merge-patch+json':
      if (builtIn) return applyStrategicMergePatch;
  }
  const accepted = ['application/json-patch+json', 'application/merge-patch+json'];
  if (builtIn) accepted.push('application/strategic-merge-patch+json');
  throw statusFailure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

// --- HTTP plumbing ------------------------------------------------------------------------------

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function tooLarge(): StatusError {
  return statusFailure(
    413,
    'RequestEntityTooLarge',
    `the request body is larger than ${MAX_BODY_BYTES} bytes`,
  );
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw statusFailure(400, 'BadRequest', `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** DeleteOptions from the body and query; the ones kube-apiserver refuses are a 422. */
function requestDeleteOptions(body: Buffer, query: URLSearchParams): DeleteOptions {
  try {
    return deleteOptionsOf(body.length > 0 ? parseJson(body) : undefined, query);
  } catch (error) {
    if (!(error instanceof InvalidDeleteOptions)) throw error;
    throw statusFailure(422, 'Invalid', `DeleteOptions.meta.k8s.io "" is invalid: ${error.message}`);
  }
}

async function readObject(req: http.IncomingMessage, protobufBodies: ProtobufBodies): Promise<KubeObject> {
  const body = await readBody(req);
  const contentType = req.headers['content-type'] ?? '';
  if (contentType.startsWith(PROTOBUF_MEDIA_TYPE)) return protobufBodies.decode(body);
  return parseDocument(body, contentType.includes('yaml'));
}

/** A request body holding one object, as JSON or YAML (JSON is YAML too). */
function parseDocument(body: Buffer, yaml: boolean): KubeObject {
  let value: unknown;
  try {
    value = yaml ? parseYaml(body.toString('utf8')) : parseJson(body);
  } catch (error) {
    if (error instanceof StatusError) throw error;
    throw statusFailure(400, 'BadRequest', `the request body is not valid YAML: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw statusFailure(400, 'BadRequest', 'the request body must be a Kubernetes object');
  }
  return value as KubeObject;
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: http.ServerResponse, code: number, text: string): void {
  res.writeHead(code, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, error: unknown): void {
  const status =
    error instanceof StatusError
      ? error
      : statusFailure(
          500,
          'InternalError',
          `Internal error occurred: ${(error as Error)?.message ?? String(error)}`,
        );
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // An unread request body (413) would otherwise be parsed as the next request.
  if (status.code === 413) res.setHeader('Connection', 'close');
  sendJson(res, status.code, status.toStatus());
}
