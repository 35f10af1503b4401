// `rewind history <app>`: a Deployment's ReplicaSet history (what `kubectl rollout history` lists)
// joined with the Git commits that produced each pod template, judged by the whole pod template
// where Git has the Deployment as plain YAML, else by container images. The join is pure
// (`joinRolloutWithCommits`); reading the cluster and the repository goes through ports
// (`loadHistory`), and `runHistory` returns the text the CLI prints.
import type { KubeObjectJson } from '../cluster/informer.ts';
import { DEPLOYMENT } from '../cluster/kube.ts';
import {
  activeReplicaSet,
  type DeploymentLike,
  type ReplicaSetLike,
  rolloutHistory,
  type RolloutHistoryEntry,
} from '../cluster/rollout-history.ts';
import { parseAllDocuments } from 'yaml';
import { imageTag, normalizeTemplate, type PodTemplate, templateCoverage } from '../cluster/template.ts';
import { appLabel, parseAppRef } from '../domain/app-ref.ts';
import { type CommitSha, isCommitSha } from '../domain/commit-sha.ts';
import { InvalidInputError, NotFoundError, redact } from '../domain/errors.ts';
import type { Engine } from '../engines/engine.ts';
import { engineFor, unknownAppError } from '../engines/registry.ts';
import { INCIDENT_TRAILER } from '../git/culprit.ts';
import { isCovered, pathClosure } from '../git/path-closure.ts';
import { type GitRepo, pathspecs } from '../git/repo.ts';
import type { ClusterPort } from '../pipeline/ports.ts';
import { formatHistoryJson, formatHistoryTable } from './format.ts';

// ---------------------------------------------------------------------------------------------
// Pure join

/** A first-parent commit of the app's source that touched its path closure. */
export interface SourceCommit {
  readonly sha: CommitSha;
  readonly subject: string;
  readonly authorName: string;
  readonly authorEmail: string;
  readonly committedAt: Date;
  /** The `Rewind-Incident:` trailer's value: a revert Rewind pushed. */
  readonly rewindIncident?: string;
}

/** A `git log -S` hit: the number of occurrences of the needle in the app's paths changed here. */
export interface PresenceChange {
  readonly sha: CommitSha;
  /** Whether the needle occurs in the app's paths in this commit's tree. */
  readonly present: boolean;
}

export interface ImageTrail {
  /** `image` when the full reference occurs in Git; `tag` when only its tag does (kustomize `images:`). */
  readonly searchedBy: 'image' | 'tag';
  /** Oldest first. */
  readonly changes: readonly PresenceChange[];
}

/** A commit where a Deployment's pod template, as written in Git, changed; and the template from then on. */
export interface TemplateChange {
  readonly sha: CommitSha;
  readonly template: PodTemplate;
}

export interface AppSourceHistory {
  /** First-parent commits touching the closure, newest first, starting at the revision Flux applied. */
  readonly commits: readonly SourceCommit[];
  /** Per container image (as the ReplicaSet names it). Images never found in Git have no trail. */
  readonly trails: ReadonlyMap<string, ImageTrail>;
  /**
   * Per Deployment (`namespace/name`), oldest first: where its pod template changed in Git. Absent
   * for a Deployment that Git has in no form this can read (a Helm chart, a kustomize patch).
   */
  readonly templates?: ReadonlyMap<string, readonly TemplateChange[]>;
}

/**
 * Which rule joined a revision to its commit, most certain first: `template` (the commit's pod
 * template, values as written in Git, is the ReplicaSet's), `image` (the commit brought the
 * template's images), `tag` (only their tags occur in Git).
 */
export type JoinRule = 'template' | 'image' | 'tag';

export interface JoinedRevision {
  readonly entry: RolloutHistoryEntry;
  /** The ReplicaSet serving the Deployment's current template. */
  readonly active: boolean;
  readonly commit?: SourceCommit;
  readonly joinedBy?: JoinRule;
}

/**
 * Joins each ReplicaSet (oldest revision first, as `rolloutHistory` returns them) with the commit
 * that produced its template.
 *
 * The template rule, when Git has the Deployment (`templates`): a ReplicaSet's candidate commits
 * are those where the Deployment's pod template in Git changed to one that describes the
 * ReplicaSet's (every value written in Git equal in the cluster; the cluster adds defaults and the
 * pod-template-hash). Where several templates in Git describe it, those with the most values win
 * (Git's `a` and `a + env X` both describe a ReplicaSet that has X; the second is its commit). A
 * change that keeps the images (an env var, a theme, a probe) is told apart this way.
 * The image rule, for a ReplicaSet that no template in Git describes (kustomize `images:`, a patch,
 * a change made with kubectl): a template's candidate commits are those where one of its images appeared in the
 * app's paths (absent before, present after, along the first-parent history) while all its other
 * images were present too. Walking the revisions newest first, each takes the newest candidate
 *  - no newer than the commit chosen for the next revision (strictly older, unless both templates
 *    have the same images: a change outside the images cannot be told apart by this join), and
 *  - for a ReplicaSet created by this revision, committed no later than the ReplicaSet's creation
 *    (seconds; Git and the API server both round to them). This skips a commit that was pushed but
 *    superseded before Flux applied it, and a later commit that brought the same image back.
 * A reused ReplicaSet (a revert restored its template) has no usable creation time for its current
 * revision, so only the ordering applies: that is what joins it to the revert commit rather than
 * to the commit that first introduced the image.
 * When nothing fits, the conditions are relaxed in turn: first the creation time (a committer
 * clock ahead of the cluster's), then the ordering (a rollout changed outside Git, such as
 * `kubectl rollout undo`). A template whose images never occur in Git gets no commit.
 */
export function joinRolloutWithCommits(
  entries: readonly RolloutHistoryEntry[],
  source: AppSourceHistory,
  activeUid?: string,
  /** `namespace/name` of the Deployment, to find its templates in `source`. */
  deployment?: string,
): JoinedRevision[] {
  const chronological = [...source.commits].reverse();
  const positionOf = new Map(chronological.map((commit, index) => [commit.sha, index]));
  const joined = new Map<RolloutHistoryEntry, JoinedRevision>();
  const templates = deployment === undefined ? undefined : source.templates?.get(deployment);

  let ceiling = chronological.length - 1;
  /** What the newer revision was joined by: its images, or `template` for the template rule. */
  let ceilingKey: string | undefined;
  for (const entry of [...entries].sort((a, b) => b.revision - a.revision)) {
    const images = [...new Set(entry.images)].sort();
    const described = describedBy(entry.template, templates ?? [], positionOf);
    const byTemplate = described.all.length > 0;
    // The best-described commits first; any describing one before the conditions are relaxed.
    const tiers = byTemplate
      ? [described.best, described.all]
      : [templateCandidates(images, source.trails, positionOf)];
    const candidates = tiers[0] ?? [];
    const key = byTemplate ? TEMPLATE_KEY : images.join('\n');
    // Two revisions can share a commit when they differ outside Git (a `kubectl rollout restart`).
    const limit = ceilingKey === undefined || ceilingKey === key ? ceiling : ceiling - 1;
    const createdBy =
      entry.revisionHistory.length === 0 && entry.createdAt !== undefined
        ? Math.floor(entry.createdAt.getTime() / 1000)
        : undefined;
    const inTime = (position: number): boolean => {
      const commit = chronological[position];
      return (
        createdBy === undefined ||
        (commit !== undefined && Math.floor(commit.committedAt.getTime() / 1000) <= createdBy)
      );
    };
    const newest = (fits: (position: number) => boolean, among = candidates): number | undefined =>
      among.filter(fits).at(-1);
    const chosen =
      tiers.reduce<number | undefined>(
        (found, tier) => found ?? newest((p) => p <= limit && inTime(p), tier),
        undefined,
      ) ??
      newest((p) => p <= limit) ??
      newest((p) => inTime(p));

    const commit = chosen === undefined ? undefined : chronological[chosen];
    const active = activeUid !== undefined && activeUid !== '' && entry.uid === activeUid;
    if (chosen === undefined || commit === undefined) {
      joined.set(entry, { entry, active });
      continue;
    }
    const joinedBy: JoinRule = byTemplate
      ? 'template'
      : images.some((image) => source.trails.get(image)?.searchedBy === 'tag')
        ? 'tag'
        : 'image';
    joined.set(entry, { entry, active, commit, joinedBy });
    if (chosen <= ceiling) {
      ceiling = chosen;
      ceilingKey = key;
    }
  }
  return entries.map((entry) => joined.get(entry) ?? { entry, active: false });
}

const TEMPLATE_KEY = '\0template';

/**
 * Positions (oldest first) where Git's template changed to one that describes `template`: `all` of
 * them, and the `best` (those that set the most values).
 */
function describedBy(
  template: PodTemplate,
  changes: readonly TemplateChange[],
  positionOf: ReadonlyMap<CommitSha, number>,
): { best: number[]; all: number[] } {
  const scored = changes.flatMap((change) => {
    const position = positionOf.get(change.sha);
    const score = templateCoverage(template, change.template);
    return position === undefined || score === undefined || score === 0 ? [] : [{ position, score }];
  });
  const top = Math.max(0, ...scored.map((s) => s.score));
  const positions = (list: typeof scored): number[] => list.map((s) => s.position).sort((a, b) => a - b);
  return { best: positions(scored.filter((s) => s.score === top)), all: positions(scored) };
}

/** Positions (oldest first) where the template's image set came to be complete in Git. */
function templateCandidates(
  images: readonly string[],
  trails: ReadonlyMap<string, ImageTrail>,
  positionOf: ReadonlyMap<CommitSha, number>,
): number[] {
  if (images.length === 0) return [];
  const timelines: { position: number; present: boolean }[][] = [];
  for (const image of images) {
    const trail = trails.get(image);
    if (trail === undefined) return [];
    timelines.push(
      trail.changes.flatMap((change) => {
        const position = positionOf.get(change.sha);
        return position === undefined ? [] : [{ position, present: change.present }];
      }),
    );
  }
  const presentAt = (timeline: { position: number; present: boolean }[], position: number): boolean =>
    timeline.filter((change) => change.position <= position).at(-1)?.present ?? false;

  const arrivals = new Set<number>();
  for (const timeline of timelines)
    timeline.forEach((change, i) => {
      const before = i === 0 ? false : (timeline[i - 1]?.present ?? false);
      if (change.present && !before) arrivals.add(change.position);
    });
  return [...arrivals]
    .filter((position) => timelines.every((timeline) => presentAt(timeline, position)))
    .sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Reading Git

const FIELD = '\x1f';
const RECORD = '\x1e';
const LOG_FORMAT = [
  '%H',
  '%an',
  '%ae',
  '%ct',
  '%s',
  `%(trailers:key=${INCIDENT_TRAILER},valueonly,separator=%x2C)`,
].join('%x1f');

/**
 * Reads what the join needs from a repository: commits touching `paths`, each image's trail and
 * each Deployment's template changes.
 */
export async function readSourceHistory(
  repo: GitRepo,
  input: {
    readonly tip: CommitSha;
    readonly paths: readonly string[];
    readonly images: readonly string[];
    readonly deployments?: readonly { readonly namespace: string; readonly name: string }[];
  },
): Promise<AppSourceHistory> {
  if (input.paths.length === 0) return { commits: [], trails: new Map() };
  const specs = pathspecs(input.paths);
  const out = await repo.text([
    'log',
    '--first-parent',
    `--format=${LOG_FORMAT}%x1e`,
    input.tip,
    '--',
    ...specs,
  ]);
  const commits = out
    .split(RECORD)
    .map((record) => record.replace(/^\n+/, ''))
    .filter((record) => record.trim() !== '')
    .map(parseLogRecord);

  const trails = new Map<string, ImageTrail>();
  for (const image of new Set(input.images)) {
    let changes = await presenceChanges(repo, input.tip, specs, image);
    let searchedBy: ImageTrail['searchedBy'] = 'image';
    const tag = imageTag(image);
    // kustomize's `images:` transformer (or a Helm value) keeps only the tag in Git.
    if (changes.length === 0 && tag !== undefined && tag !== image) {
      changes = await presenceChanges(repo, input.tip, specs, tag);
      searchedBy = 'tag';
    }
    if (changes.length > 0) trails.set(image, { searchedBy, changes });
  }
  const templates = await templateChanges(repo, commits, input.paths, input.deployments ?? []);
  return { commits, trails, templates };
}

/** Commits (newest first) whose manifests are read for the template rule; older ones use the image rule. */
const TEMPLATE_COMMITS = 200;
const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * Each Deployment's pod template as Git writes it, at each commit (oldest first) where it changed.
 * A Deployment is read from the plain YAML/JSON files in `paths` (the one document of its kind and
 * name, in its namespace or without one); a commit where it is not exactly one such document with
 * a template (absent, a Helm template, a kustomize patch beside its base) has no template.
 */
async function templateChanges(
  repo: GitRepo,
  commits: readonly SourceCommit[],
  paths: readonly string[],
  deployments: readonly { readonly namespace: string; readonly name: string }[],
): Promise<Map<string, TemplateChange[]>> {
  const out = new Map<string, TemplateChange[]>();
  if (deployments.length === 0) return out;
  const parsed = new Map<string, unknown[]>();
  const last = new Map<string, string>();
  // ls-tree limits to the paths itself (prefixes, as the closure's paths are); '' is the whole tree.
  const limit = paths.includes('') ? [] : ['--', ...pathspecs(paths)];
  for (const commit of commits.slice(0, TEMPLATE_COMMITS).reverse()) {
    const documents: unknown[] = [];
    for (const line of await repo.lines(['ls-tree', '-r', '--full-tree', commit.sha, ...limit])) {
      const [meta = '', file = ''] = line.split('\t');
      const [, type, oid = ''] = meta.split(' ');
      if (type !== 'blob' || !MANIFEST_FILE.test(file) || !isCovered(file, paths)) continue;
      let docs = parsed.get(oid);
      if (docs === undefined) {
        docs = parseManifests(await repo.text(['cat-file', 'blob', oid]));
        parsed.set(oid, docs);
      }
      documents.push(...docs);
    }
    for (const { namespace, name } of deployments) {
      const key = `${namespace}/${name}`;
      const template = deploymentTemplate(documents, namespace, name);
      if (template === undefined) continue;
      const canonical = JSON.stringify(normalizeTemplate(template));
      if (last.get(key) === canonical) continue;
      last.set(key, canonical);
      out.set(key, [...(out.get(key) ?? []), { sha: commit.sha, template }]);
    }
  }
  return out;
}

function parseManifests(text: string): unknown[] {
  try {
    return parseAllDocuments(text).flatMap((doc) => (doc.errors.length > 0 ? [] : [doc.toJS() as unknown]));
  } catch {
    return [];
  }
}

function deploymentTemplate(
  documents: readonly unknown[],
  namespace: string,
  name: string,
): PodTemplate | undefined {
  const found = documents.filter(
    (doc): doc is { metadata?: { namespace?: unknown }; spec?: { template?: unknown } } => {
      const d = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
      return (
        typeof d === 'object' &&
        d !== null &&
        d.kind === 'Deployment' &&
        d.metadata?.name === name &&
        (d.metadata.namespace === undefined || d.metadata.namespace === namespace)
      );
    },
  );
  const template = found.length === 1 ? found[0]?.spec?.template : undefined;
  return typeof template === 'object' && template !== null ? template : undefined;
}

function parseLogRecord(record: string): SourceCommit {
  const [sha = '', authorName = '', authorEmail = '', committed = '', subject = '', incident = ''] =
    record.split(FIELD);
  if (!isCommitSha(sha))
    throw new InvalidInputError(`git log returned an unexpected record: ${record.slice(0, 80)}`);
  const rewindIncident = incident.trim();
  return {
    sha,
    subject,
    authorName,
    authorEmail,
    committedAt: new Date(Number(committed) * 1000),
    ...(rewindIncident === '' ? {} : { rewindIncident }),
  };
}

/** `git log -S` hits for `needle` (oldest first), each with whether the needle is present afterwards. */
async function presenceChanges(
  repo: GitRepo,
  tip: CommitSha,
  specs: readonly string[],
  needle: string,
): Promise<PresenceChange[]> {
  if (needle.trim() === '' || /[\n\0]/.test(needle)) return [];
  // -S<needle> and -e <needle> are single argv elements: the value can never be read as an option.
  const shas = await repo.lines(['log', '--first-parent', '--format=%H', `-S${needle}`, tip, '--', ...specs]);
  const changes: PresenceChange[] = [];
  for (const sha of shas.reverse()) {
    if (!isCommitSha(sha)) continue;
    const grep = await repo.run(['grep', '-q', '-F', '-e', needle, sha, '--', ...specs], {
      okExitCodes: [1],
    });
    changes.push({ sha, present: grep.exitCode === 0 });
  }
  return changes;
}

// ---------------------------------------------------------------------------------------------
// Reading the cluster

export type HistoryClusterPort = Pick<
  ClusterPort,
  'get' | 'list' | 'mergePatch' | 'annotate' | 'replicaSetsOf'
>;

/** The part of GitWorkspace the history needs: a fetched mirror of a remote. */
export interface HistoryGitPort {
  syncMirror(url: string): Promise<{ readonly repo: GitRepo }>;
}

export interface HistoryRequest {
  readonly cluster: HistoryClusterPort;
  /** Absent: the cluster side only (COMMIT columns stay empty). */
  readonly git?: HistoryGitPort;
  /** An app: `podinfo`, `flux-system/podinfo`, `ks/flux-system/podinfo`, `app/argocd/web`. */
  readonly app?: string;
  /** `namespace/name` (or `name` in `default`): one Deployment of the app, or a bare one without Git. */
  readonly deployment?: string;
}

export interface HistorySource {
  /** Credentials redacted. */
  readonly url: string;
  readonly branch: string;
  /** The commit the history was read from (Flux's last attempted revision, else the branch head). */
  readonly tip: CommitSha;
  readonly paths: readonly string[];
}

export interface DeploymentHistory {
  readonly deployment: { readonly namespace: string; readonly name: string };
  /** `flux-system/podinfo`, absent for a bare Deployment. */
  readonly app?: string;
  readonly source?: HistorySource;
  /** Oldest revision first. */
  readonly revisions: readonly JoinedRevision[];
  /** Why commits could not be joined, when they could not. */
  readonly notes: readonly string[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function parseDeploymentRef(input: string): { namespace: string; name: string } {
  const parts = input.trim().split('/');
  const [namespace, name] = parts.length === 1 ? ['default', parts[0] ?? ''] : parts;
  if (
    parts.length > 2 ||
    namespace === undefined ||
    name === undefined ||
    !DNS_LABEL.test(namespace) ||
    !DNS_SUBDOMAIN.test(name)
  ) {
    throw new InvalidInputError(
      `Cannot read a Deployment from "${input.slice(0, 120)}": expected <namespace>/<name> (lowercase DNS names).`,
    );
  }
  return { namespace, name };
}

/** Reads the cluster (and Git, for an app) and joins them; one history per Deployment. */
export async function loadHistory(request: HistoryRequest): Promise<DeploymentHistory[]> {
  const wanted = request.deployment === undefined ? undefined : parseDeploymentRef(request.deployment);
  if (request.app === undefined) {
    if (wanted === undefined)
      throw new InvalidInputError(
        'Name an app (ks/<ns>/<name>, app/<ns>/<name>) or a Deployment with --deployment ns/name.',
      );
    const deployment = await request.cluster.get({ ...DEPLOYMENT, ...wanted });
    if (deployment === undefined) {
      throw new NotFoundError(
        `No Deployment ${wanted.namespace}/${wanted.name} in the cluster. List them with \`kubectl get deployments -A\`.`,
      );
    }
    return [
      { ...historyOf(deployment, await request.cluster.replicaSetsOf(deployment), undefined), notes: [] },
    ];
  }

  const app = parseAppRef(request.app);
  const label = appLabel(app);
  const engine = engineFor(app);
  const object = await request.cluster.get(engine.ref(app));
  if (object === undefined) throw unknownAppError(request.app, app);
  let deployments = await request.cluster.list(DEPLOYMENT, undefined, engine.workloadSelector(app));
  if (wanted !== undefined) {
    const applied = deployments.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`);
    deployments = deployments.filter(
      (d) => d.metadata?.namespace === wanted.namespace && d.metadata.name === wanted.name,
    );
    if (deployments.length === 0) {
      throw new NotFoundError(
        `App ${label} did not apply a Deployment ${wanted.namespace}/${wanted.name}` +
          (applied.length === 0 ? ' (it applied no Deployments).' : ` (it applied ${applied.join(', ')}).`) +
          ' Drop the app to see that Deployment without Git.',
      );
    }
  }
  if (deployments.length === 0) return [];

  const located = await locateSource(request, engine, object);
  const withReplicaSets = await Promise.all(
    deployments.map(async (d) => ({ deployment: d, replicaSets: await request.cluster.replicaSetsOf(d) })),
  );
  let sourceHistory: AppSourceHistory | undefined;
  const notes = [...located.notes];
  if (located.repo !== undefined && located.source !== undefined) {
    const images = withReplicaSets.flatMap(({ deployment, replicaSets }) =>
      rolloutHistory(deployment as DeploymentLike, replicaSets as ReplicaSetLike[]).flatMap((e) => e.images),
    );
    sourceHistory = await readSourceHistory(located.repo, {
      tip: located.source.tip,
      paths: located.source.paths,
      images,
      deployments: deployments.map((d) => ({
        namespace: d.metadata?.namespace ?? 'default',
        name: d.metadata?.name ?? '',
      })),
    });
  }
  return withReplicaSets.map(({ deployment, replicaSets }) => {
    const history = historyOf(deployment, replicaSets, sourceHistory);
    return {
      ...history,
      app: label,
      ...(located.source === undefined ? {} : { source: located.source }),
      notes,
    };
  });
}

function historyOf(
  deployment: KubeObjectJson,
  replicaSets: KubeObjectJson[],
  source: AppSourceHistory | undefined,
): Omit<DeploymentHistory, 'notes'> {
  const d = deployment as DeploymentLike;
  const rss = replicaSets as ReplicaSetLike[];
  const entries = rolloutHistory(d, rss);
  const activeUid = activeReplicaSet(d, rss)?.metadata?.uid;
  const revisions =
    source === undefined
      ? entries.map((entry) => ({ entry, active: activeUid !== undefined && entry.uid === activeUid }))
      : joinRolloutWithCommits(
          entries,
          source,
          activeUid,
          `${deployment.metadata?.namespace ?? 'default'}/${deployment.metadata?.name ?? ''}`,
        );
  return {
    deployment: { namespace: deployment.metadata?.namespace ?? '', name: deployment.metadata?.name ?? '' },
    revisions,
  };
}

interface LocatedSource {
  readonly repo?: GitRepo;
  readonly source?: HistorySource;
  readonly notes: string[];
}

/** Where the app comes from: mirror, commit the engine last attempted (or the branch head), path closure. */
async function locateSource(
  request: HistoryRequest,
  engine: Engine,
  object: KubeObjectJson,
): Promise<LocatedSource> {
  const source = await engine.source(request.cluster, object);
  if (source.kind !== 'git') return { notes: [`${source.message} Commits not joined.`] };
  if (request.git === undefined) return { notes: ['No Git workspace configured; commits not joined.'] };
  const { url, branch } = source;
  const { repo } = await request.git.syncMirror(url);
  const attempted = engine.attemptedRevision(object) ?? engine.appliedRevision(object);
  const tip =
    (attempted === undefined ? undefined : await repo.resolveCommit(attempted.sha)) ??
    (await repo.resolveCommit(`refs/heads/${branch}`));
  if (tip === undefined) {
    return {
      notes: [
        `Neither the revision the ${engine.noun} attempted (${attempted?.raw ?? 'none'}) nor branch ${branch} is in ${redact(url)}; commits not joined.`,
      ],
    };
  }
  const closure = await pathClosure(repo, tip, source.path);
  const notes = closure.skipped.map((s) => `${s.from}: ${s.ref} not followed (${s.why}).`);
  if (closure.paths.length === 0)
    notes.push(`Path ${source.path || '.'} not found at ${tip.slice(0, 7)}; commits not joined.`);
  return { repo, source: { url: redact(url), branch, tip, paths: closure.paths }, notes };
}

// ---------------------------------------------------------------------------------------------
// The command

export interface RunHistoryOptions extends HistoryRequest {
  readonly json: boolean;
}

/** `rewind history`: the text to print (a table per Deployment, or a JSON array of rows). */
export async function runHistory(options: RunHistoryOptions): Promise<string> {
  const histories = await loadHistory(options);
  if (histories.length === 0 && !options.json && options.app !== undefined) {
    return (
      `App ${options.app} manages no Deployments (none carries its engine's tracking labels, e.g. ` +
      'kustomize.toolkit.fluxcd.io/name or app.kubernetes.io/instance). Check `kubectl get deployments -A --show-labels`.\n'
    );
  }
  return options.json ? formatHistoryJson(histories) : formatHistoryTable(histories);
}
