// Output of `rewind history`: a kubectl-style table per Deployment, or one JSON array of rows with
// the same columns (stable keys, null where a value is unknown) for scripts.
import type { DeploymentHistory, JoinedRevision, JoinRule } from './rollout-git-history.ts';

export interface HistoryRow {
  readonly deployment: string;
  readonly app: string | null;
  readonly active: boolean;
  readonly revision: number;
  readonly revisionHistory: readonly number[];
  readonly replicaSet: string;
  readonly images: readonly string[];
  readonly ready: number;
  readonly desired: number;
  /** ISO-8601. */
  readonly createdAt: string | null;
  readonly commit: string | null;
  readonly author: string | null;
  readonly authorEmail: string | null;
  readonly subject: string | null;
  /** ISO-8601 committer date. */
  readonly committedAt: string | null;
  /** The `Rewind-Incident:` trailer of a revert Rewind pushed. */
  readonly rewindIncident: string | null;
  /**
   * The rule that named the commit, most certain first: `template` (Git's pod template is the
   * ReplicaSet's), `image` (the commit brought its images), `tag` (only the tags occur in Git).
   */
  readonly joinedBy: JoinRule | null;
}

export function historyRows(histories: readonly DeploymentHistory[]): HistoryRow[] {
  return histories.flatMap((history) => history.revisions.map((revision) => row(history, revision)));
}

function row(history: DeploymentHistory, { entry, active, commit, joinedBy }: JoinedRevision): HistoryRow {
  return {
    deployment: `${history.deployment.namespace}/${history.deployment.name}`,
    app: history.app ?? null,
    active,
    revision: entry.revision,
    revisionHistory: entry.revisionHistory,
    replicaSet: entry.rsName,
    images: entry.images,
    ready: entry.replicas.ready,
    desired: entry.replicas.desired,
    createdAt: entry.createdAt?.toISOString() ?? null,
    commit: commit?.sha ?? null,
    author: commit?.authorName ?? null,
    authorEmail: commit?.authorEmail ?? null,
    subject: commit?.subject ?? null,
    committedAt: commit?.committedAt.toISOString() ?? null,
    rewindIncident: commit?.rewindIncident ?? null,
    joinedBy: joinedBy ?? null,
  };
}

export function formatHistoryJson(histories: readonly DeploymentHistory[]): string {
  return `${JSON.stringify(historyRows(histories), null, 2)}\n`;
}

const HEADERS = [
  'REVISION',
  'REVISION-HISTORY',
  'REPLICASET',
  'IMAGES',
  'READY',
  'CREATED',
  'COMMIT',
  'AUTHOR',
  'SUBJECT',
] as const;
const REWIND_MARK = '[rewind]';
const NONE = '-';

export function formatHistoryTable(histories: readonly DeploymentHistory[]): string {
  if (histories.length === 0) return 'No Deployments found.\n';
  const sections = histories.map(section);
  const rows = historyRows(histories);
  const legend = ['* active ReplicaSet'];
  if (rows.some((r) => r.rewindIncident !== null))
    legend.push(`${REWIND_MARK} a revert Rewind pushed (Rewind-Incident trailer)`);
  if (rows.some((r) => r.joinedBy === 'tag')) legend.push('~ joined by image tag only');
  return `${sections.join('\n')}\n${legend.join('   ')}\n`;
}

function section(history: DeploymentHistory): string {
  const name = `${history.deployment.namespace}/${history.deployment.name}`;
  const source = history.source;
  const title =
    history.app === undefined
      ? `Deployment ${name} (no Git source)`
      : `Deployment ${name} (app ${history.app}` +
        (source === undefined
          ? ')'
          : `; ${source.url} ${source.branch} at ${source.tip.slice(0, 7)}; paths ${source.paths.join(', ')})`);
  const cells = history.revisions.map((revision) => {
    const r = row(history, revision);
    const commit = r.commit === null ? NONE : `${r.commit.slice(0, 7)}${r.joinedBy === 'tag' ? '~' : ''}`;
    return {
      marker: r.active ? '*' : ' ',
      values: [
        String(r.revision),
        r.revisionHistory.length === 0 ? NONE : r.revisionHistory.join(','),
        r.replicaSet || NONE,
        r.images.length === 0 ? NONE : r.images.join(','),
        `${r.ready}/${r.desired}`,
        r.createdAt === null ? NONE : r.createdAt.replace(/\.\d{3}Z$/, 'Z'),
        commit,
        r.author ?? NONE,
        r.subject === null ? NONE : r.rewindIncident === null ? r.subject : `${REWIND_MARK} ${r.subject}`,
      ],
    };
  });
  const widths = HEADERS.map((header, i) =>
    Math.max(header.length, ...cells.map((c) => (c.values[i] ?? '').length)),
  );
  const line = (marker: string, values: readonly string[]): string =>
    `${marker} ${values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('   ')}`.trimEnd();
  const body = cells.length === 0 ? ['  (no ReplicaSets)'] : cells.map((c) => line(c.marker, c.values));
  const notes = history.notes.map((note) => `note: ${note}`);
  return [title, line(' ', HEADERS), ...body, ...notes].join('\n') + '\n';
}
