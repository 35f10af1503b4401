// The sandbox's Argo CD ApplicationSet controller (applicationset/controllers/applicationset_controller.go):
// generators make parameter sets, each renders the template into an Application owned by the
// ApplicationSet (controller ownerReference), and every reconcile writes each generated Application
// back to the template: spec, labels, finalizers and annotations (keeping only the annotations in
// spec.preservedFields.annotations and Argo's own `notified.notifications.argoproj.io` and
// `argocd.argoproj.io/refresh`). Fields under spec.ignoreApplicationDifferences keep the values the
// Application has (jsonPointers; jqPathExpressions of plain `.a.b` paths only). An edit to a
// generated Application, e.g. automated sync turned off, is undone within a reconcile unless ignored.
//
// Supported: the `list` generator (elements) and the `git` generator's `directories` (path globs,
// `*` within one segment, `exclude`). Templates: with `goTemplate: true`, `{{.name}}` /
// `{{ .path.basename }}` field access only (no functions or pipelines; a missing key renders
// `<no value>` as Go's text/template does); without it, fasttemplate's `{{path.basename}}`
// (unknown keys left as they are). A generated Application that is no longer generated is deleted,
// and its objects with it (Argo's resources finalizer) unless
// `syncPolicy.preserveResourcesOnDeletion: true`.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { instanceName, trackedObjects } from './argo-compare.ts';
import { kubeTime } from './conditions.ts';
import { GitMirrors } from './flux-source.ts';
import { APPLICATION, APPLICATION_SET } from './resources.ts';
import { SerialQueue } from './serial-queue.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';
import { parsePointer } from './patch.ts';

const DEFAULT_PRESERVED_ANNOTATIONS = ['notified.notifications.argoproj.io', 'argocd.argoproj.io/refresh'];
const RESYNC_MS = 30_000;

type Params = Record<string, unknown>;

/** Go's text/template prints scalars as themselves and composites in its own syntax; JSON here. */
function text(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

function lookup(params: Params, dotted: string): unknown {
  let value: unknown = params;
  for (const part of dotted.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Renders every string of the template with the parameters (see the header for the subset). */
function renderTemplate(template: unknown, params: Params, goTemplate: boolean): unknown {
  if (typeof template === 'string') {
    return goTemplate
      ? template.replace(/\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}/g, (_all, key: string) => {
          const value = lookup(params, key);
          return value === undefined ? '<no value>' : text(value);
        })
      : template.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (all, key: string) => {
          const value = params[key];
          return value === undefined ? all : text(value);
        });
  }
  if (Array.isArray(template)) return template.map((item) => renderTemplate(item, params, goTemplate));
  if (template && typeof template === 'object') {
    return Object.fromEntries(
      Object.entries(template).map(([key, value]) => [key, renderTemplate(value, params, goTemplate)]),
    );
  }
  return template;
}

/** `.spec.syncPolicy` (a jq path of plain keys) as the JSON pointer `/spec/syncPolicy`. */
function jqPathToPointer(expression: string): string | undefined {
  return /^(\.[A-Za-z0-9_-]+)+$/.test(expression.trim()) ? expression.trim().replace(/\./g, '/') : undefined;
}

function getAt(object: any, parts: readonly string[]): { found: boolean; value?: unknown } {
  let value = object;
  for (const part of parts) {
    if (value === null || typeof value !== 'object' || !(part in value)) return { found: false };
    value = value[part];
  }
  return { found: true, value };
}

function setAt(object: any, parts: readonly string[], found: { found: boolean; value?: unknown }): void {
  let parent = object;
  for (const part of parts.slice(0, -1)) {
    if (parent[part] === null || typeof parent[part] !== 'object') {
      if (!found.found) return;
      parent[part] = {};
    }
    parent = parent[part];
  }
  const last = parts.at(-1)!;
  if (found.found) parent[last] = structuredClone(found.value);
  else delete parent[last];
}

/** The JSON pointers spec.ignoreApplicationDifferences ignores for the Application `name`. */
function ignoredPointers(appSet: KubeObject, name: string): string[] {
  const rules: any[] = Array.isArray(appSet.spec?.ignoreApplicationDifferences)
    ? appSet.spec.ignoreApplicationDifferences
    : [];
  return rules
    .filter((rule) => !rule?.name || rule.name === name)
    .flatMap((rule) => [
      ...(Array.isArray(rule?.jsonPointers) ? rule.jsonPointers : []),
      ...(Array.isArray(rule?.jqPathExpressions) ? rule.jqPathExpressions.map(jqPathToPointer) : []),
    ])
    .filter((pointer): pointer is string => typeof pointer === 'string' && pointer.startsWith('/'));
}

function globMatches(pattern: string, candidate: string): boolean {
  const parts = pattern.split('/');
  const names = candidate.split('/');
  if (parts.length !== names.length) return false;
  return parts.every((part, i) =>
    new RegExp(
      `^${part
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')}$`,
    ).test(names[i]!),
  );
}

export class ApplicationSetController {
  private readonly mirrors: GitMirrors;
  private readonly queue: SerialQueue;
  private readonly abort = new AbortController();
  private unsubscribes: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly store: ObjectStore,
    options: { cacheDir: string },
  ) {
    this.mirrors = new GitMirrors(options.cacheDir);
    this.queue = new SerialQueue((key) => this.reconcile(key));
  }

  start(): void {
    this.unsubscribes = [
      this.store.watch(APPLICATION_SET, (event) => this.onAppSet(event)),
      this.store.watch(APPLICATION, (event) => this.onApplication(event)),
    ];
    for (const appSet of this.store.list(APPLICATION_SET)) this.onAppSet({ type: 'ADDED', object: appSet });
    const resync = (): void => {
      for (const appSet of this.store.list(APPLICATION_SET))
        this.onAppSet({ type: 'MODIFIED', object: appSet });
      this.timer = setTimeout(resync, RESYNC_MS);
      this.timer.unref();
    };
    this.timer = setTimeout(resync, RESYNC_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.queue.closed = true;
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.queue.idle();
  }

  private onAppSet(event: Pick<StoreEvent, 'type' | 'object'>): void {
    if (event.type === 'DELETED') return; // the garbage collector deletes what it owned
    this.queue.request(`${event.object.metadata.namespace ?? 'argocd'}/${event.object.metadata.name}`);
  }

  /** The controller watches the Applications it owns: a change to one reconciles its ApplicationSet. */
  private onApplication(event: StoreEvent): void {
    const owner = event.object.metadata.ownerReferences?.find(
      (ref) => ref.kind === 'ApplicationSet' && ref.controller === true,
    );
    if (owner) this.queue.request(`${event.object.metadata.namespace ?? 'argocd'}/${owner.name}`);
  }

  private async generate(appSet: KubeObject): Promise<Params[]> {
    const goTemplate = appSet.spec?.goTemplate === true;
    const generators: any[] = Array.isArray(appSet.spec?.generators) ? appSet.spec.generators : [];
    const all: Params[] = [];
    for (const generator of generators) {
      if (Array.isArray(generator?.list?.elements)) {
        all.push(...(generator.list.elements as Params[]));
        continue;
      }
      const git = generator?.git;
      if (git && Array.isArray(git.directories)) {
        const mirror = createHash('sha256').update(String(git.repoURL)).digest('hex').slice(0, 16);
        const fetched = await this.mirrors.resolve(
          'applicationsets',
          mirror,
          String(git.repoURL),
          typeof git.revision === 'string' && git.revision ? git.revision : 'HEAD',
          this.abort.signal,
        );
        const tree = await this.mirrors.tree('applicationsets', mirror, fetched.sha);
        const dirs = [...tree.all()].filter(([, entry]) => entry.type === 'tree').map(([p]) => p);
        const included = git.directories.filter((d: any) => d?.exclude !== true);
        const excluded = git.directories.filter((d: any) => d?.exclude === true);
        for (const dir of dirs) {
          if (!included.some((d: any) => globMatches(String(d.path), dir))) continue;
          if (excluded.some((d: any) => globMatches(String(d.path), dir))) continue;
          const basename = path.posix.basename(dir);
          const normalized = basename.replace(/[^a-zA-Z0-9-]/g, '-').toLowerCase();
          all.push(
            goTemplate
              ? { path: { path: dir, basename, basenameNormalized: normalized, segments: dir.split('/') } }
              : { path: dir, 'path.basename': basename, 'path.basenameNormalized': normalized },
          );
        }
        continue;
      }
      throw new Error('the sandbox supports only the list and git directories generators');
    }
    return all;
  }

  private async reconcile(key: string): Promise<void> {
    const slash = key.indexOf('/');
    const [namespace, name] = [key.slice(0, slash), key.slice(slash + 1)];
    const appSet = this.store.get(APPLICATION_SET, namespace, name);
    if (!appSet || appSet.metadata.deletionTimestamp || this.abort.signal.aborted) return;
    let params: Params[];
    try {
      params = await this.generate(appSet);
    } catch (error) {
      this.writeCondition(
        namespace,
        name,
        'ErrorOccurred',
        error instanceof Error ? error.message : String(error),
      );
      return;
    }
    if (this.abort.signal.aborted) return;
    const goTemplate = appSet.spec?.goTemplate === true;
    const wanted = new Set<string>();
    for (const set of params) {
      const rendered = renderTemplate(appSet.spec?.template ?? {}, set, goTemplate) as any;
      const appName: string = rendered?.metadata?.name;
      if (!appName) continue;
      wanted.add(appName);
      this.createOrUpdate(appSet, appName, rendered);
    }
    const owned = this.store
      .list(APPLICATION, { namespace })
      .filter((app) => app.metadata.ownerReferences?.some((ref) => ref.uid === appSet.metadata.uid));
    for (const app of owned) {
      if (wanted.has(app.metadata.name)) continue;
      if (appSet.spec?.syncPolicy?.preserveResourcesOnDeletion !== true) {
        // Argo's resources finalizer: the application-controller deletes what the app deployed.
        for (const { type, object } of trackedObjects(this.store, instanceName(app, 'argocd'))) {
          this.store.delete(type, object.metadata.namespace, object.metadata.name);
        }
      }
      this.store.delete(APPLICATION, namespace, app.metadata.name);
    }
    this.writeCondition(
      namespace,
      name,
      'ResourcesUpToDate',
      'All applications have been generated successfully',
    );
  }

  private createOrUpdate(appSet: KubeObject, name: string, rendered: any): void {
    const namespace = appSet.metadata.namespace ?? 'argocd';
    const ownerReferences = [
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'ApplicationSet',
        name: appSet.metadata.name,
        uid: appSet.metadata.uid!,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
    const existing = this.store.get(APPLICATION, namespace, name);
    const generated: KubeObject = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name,
        namespace,
        ...(rendered.metadata?.labels ? { labels: rendered.metadata.labels } : {}),
        ...(rendered.metadata?.annotations ? { annotations: rendered.metadata.annotations } : {}),
        ...(rendered.metadata?.finalizers ? { finalizers: rendered.metadata.finalizers } : {}),
        ownerReferences,
      },
      spec: rendered.spec ?? {},
    };
    if (!existing) {
      this.store.create(APPLICATION, generated);
      return;
    }
    for (const pointer of ignoredPointers(appSet, name)) {
      const parts = parsePointer(pointer);
      setAt(generated, parts, getAt(existing, parts));
    }
    const preserved = [
      ...(Array.isArray(appSet.spec?.preservedFields?.annotations)
        ? appSet.spec.preservedFields.annotations
        : []),
      ...DEFAULT_PRESERVED_ANNOTATIONS,
    ];
    const annotations: Record<string, string> = { ...generated.metadata.annotations };
    for (const key of preserved) {
      const value = existing.metadata.annotations?.[key];
      if (value !== undefined) annotations[key] = value;
    }
    const labels: Record<string, string> = { ...generated.metadata.labels };
    for (const key of Array.isArray(appSet.spec?.preservedFields?.labels)
      ? appSet.spec.preservedFields.labels
      : []) {
      const value = existing.metadata.labels?.[key];
      if (value !== undefined) labels[key] = value;
    }
    this.store.mutate(APPLICATION, namespace, name, (app) => {
      const next = {
        spec: generated.spec,
        annotations: Object.keys(annotations).length > 0 ? annotations : undefined,
        labels: Object.keys(labels).length > 0 ? labels : undefined,
        finalizers: generated.metadata.finalizers,
      };
      const now = {
        spec: app.spec,
        annotations: app.metadata.annotations,
        labels: app.metadata.labels,
        finalizers: app.metadata.finalizers,
      };
      const sameOwner = app.metadata.ownerReferences?.some((ref) => ref.uid === appSet.metadata.uid);
      if (JSON.stringify(next) === JSON.stringify(now) && sameOwner) return false;
      app.spec = structuredClone(generated.spec);
      if (next.annotations) app.metadata.annotations = next.annotations;
      else delete app.metadata.annotations;
      if (next.labels) app.metadata.labels = next.labels;
      else delete app.metadata.labels;
      if (next.finalizers) app.metadata.finalizers = next.finalizers;
      else delete app.metadata.finalizers;
      app.metadata.ownerReferences = ownerReferences;
    });
  }

  private writeCondition(namespace: string, name: string, type: string, message: string): void {
    if (this.abort.signal.aborted) return;
    this.store.mutate(
      APPLICATION_SET,
      namespace,
      name,
      (appSet) => {
        const condition = {
          type,
          status: 'True',
          message,
          reason:
            type === 'ErrorOccurred' ? 'ApplicationGenerationFromParamsError' : 'ApplicationSetUpToDate',
        };
        const current = appSet.status?.conditions?.[0];
        if (current && current.type === type && current.message === message) return false;
        appSet.status = { ...appSet.status, conditions: [{ ...condition, lastTransitionTime: kubeTime() }] };
      },
      { subresource: 'status' },
    );
  }
}
