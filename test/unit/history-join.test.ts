import { describe, expect, it } from 'vitest';
import type { RolloutHistoryEntry } from '../../src/cluster/rollout-history.ts';
import { type PodTemplate, templateCoverage } from '../../src/cluster/template.ts';
import { parseCommitSha, type CommitSha } from '../../src/domain/commit-sha.ts';
import { formatHistoryJson, formatHistoryTable, type HistoryRow } from '../../src/history/format.ts';
import {
  type AppSourceHistory,
  type DeploymentHistory,
  type ImageTrail,
  joinRolloutWithCommits,
  parseDeploymentRef,
  type SourceCommit,
} from '../../src/history/rollout-git-history.ts';

const T0 = Date.parse('2025-03-01T10:00:00Z');
const at = (minutes: number): Date => new Date(T0 + minutes * 60_000);
const sha = (n: number): CommitSha => parseCommitSha(n.toString(16).padStart(40, 'c'));

function commit(n: number, minutes: number, subject: string, rewindIncident?: string): SourceCommit {
  return {
    sha: sha(n),
    subject,
    authorName: 'Alice',
    authorEmail: 'alice@example.com',
    committedAt: at(minutes),
    ...(rewindIncident === undefined ? {} : { rewindIncident }),
  };
}

function rs(
  revision: number,
  images: string[],
  createdMinutes: number,
  revisionHistory: number[] = [],
): RolloutHistoryEntry {
  return {
    revision,
    revisionHistory,
    rsName: `podinfo-${images.join('-').replace(/[^a-z0-9]/g, '')}`,
    uid: `uid-${images.join(',')}`,
    template: {},
    images,
    replicas: { desired: 2, current: 2, ready: 2, available: 2 },
    createdAt: at(createdMinutes),
  };
}

/** `changes`: [commit number, present after] per image, oldest first. */
function source(
  commits: SourceCommit[],
  trails: Record<string, [number, boolean][]>,
  searchedBy: ImageTrail['searchedBy'] = 'image',
): AppSourceHistory {
  return {
    commits: [...commits].reverse(),
    trails: new Map(
      Object.entries(trails).map(([image, changes]) => [
        image,
        { searchedBy, changes: changes.map(([n, present]) => ({ sha: sha(n), present })) },
      ]),
    ),
  };
}

const A = 'ghcr.io/x/podinfo:1.0.0';
const B = 'ghcr.io/x/podinfo:1.1.0';
const C = 'ghcr.io/x/podinfo:1.2.0';

function joinedShas(entries: RolloutHistoryEntry[], src: AppSourceHistory): (string | undefined)[] {
  return joinRolloutWithCommits(entries, src).map((j) => j.commit?.sha);
}

describe('joining ReplicaSet history with Git commits', () => {
  it('joins each revision to the commit that introduced its image', () => {
    const src = source([commit(1, 0, 'add podinfo'), commit(2, 10, 'bump 1.1'), commit(3, 20, 'bump 1.2')], {
      [A]: [
        [1, true],
        [2, false],
      ],
      [B]: [
        [2, true],
        [3, false],
      ],
      [C]: [[3, true]],
    });
    const entries = [rs(1, [A], 1), rs(2, [B], 11), rs(3, [C], 21)];
    expect(joinedShas(entries, src)).toEqual([sha(1), sha(2), sha(3)]);
  });

  it('joins a ReplicaSet reused by a revert to the revert commit, not to the first introduction', () => {
    const src = source(
      [
        commit(1, 0, 'add podinfo'),
        commit(2, 10, 'bump 1.1'),
        commit(3, 20, 'Revert "bump 1.1"', 'inc-ks.flux-system.podinfo-0123456789ab'),
      ],
      {
        [A]: [
          [1, true],
          [2, false],
          [3, true],
        ],
        [B]: [
          [2, true],
          [3, false],
        ],
      },
    );
    // The Deployment controller renumbers the reused RS: revision 3, history [1], created at minute 1.
    const entries = [rs(2, [B], 11), rs(3, [A], 1, [1])];
    const joined = joinRolloutWithCommits(entries, src);
    expect(joined.map((j) => j.commit?.sha)).toEqual([sha(2), sha(3)]);
    expect(joined[1]?.commit?.rewindIncident).toBe('inc-ks.flux-system.podinfo-0123456789ab');
  });

  it('skips commits pushed after the ReplicaSet was created (superseded before Flux applied them)', () => {
    // B was pushed and reverted before Flux fetched; the cluster only ever ran A, created at minute 1.
    const src = source([commit(1, 0, 'add podinfo'), commit(2, 5, 'bump 1.1'), commit(3, 6, 'undo bump')], {
      [A]: [
        [1, true],
        [2, false],
        [3, true],
      ],
      [B]: [
        [2, true],
        [3, false],
      ],
    });
    expect(joinedShas([rs(1, [A], 1)], src)).toEqual([sha(1)]);
  });

  it('compares creation and commit times in whole seconds', () => {
    const src = source([commit(1, 0, 'add podinfo')], { [A]: [[1, true]] });
    const createdSameSecond = { ...rs(1, [A], 0), createdAt: new Date(T0 + 400) };
    const committedLaterInThatSecond = { ...commit(1, 0, 'add podinfo'), committedAt: new Date(T0 + 900) };
    expect(joinedShas([createdSameSecond], { ...src, commits: [committedLaterInThatSecond] })[0]).toBe(
      sha(1),
    );
  });

  it('still joins when the committer clock runs ahead of the cluster', () => {
    const src = source([commit(1, 30, 'add podinfo')], { [A]: [[1, true]] });
    expect(joinedShas([rs(1, [A], 1)], src)).toEqual([sha(1)]);
  });

  it('needs every image of a multi-container template: the commit that completed the set', () => {
    const sidecar = 'ghcr.io/x/proxy:2.0';
    const src = source([commit(1, 0, 'add podinfo'), commit(2, 10, 'add proxy sidecar')], {
      [A]: [[1, true]],
      [sidecar]: [[2, true]],
    });
    expect(joinedShas([rs(1, [A], 1), rs(2, [A, sidecar], 11)], src)).toEqual([sha(1), sha(2)]);
  });

  it('joins templates that differ only outside the images to the commit that introduced the image', () => {
    const src = source([commit(1, 0, 'add podinfo'), commit(2, 10, 'bump 1.1')], {
      [A]: [[1, true]],
      [B]: [[2, true]],
    });
    // Revision 2 changed an env var (not found by the image join), revision 3 the image.
    const entries = [
      rs(1, [A], 1),
      { ...rs(2, [A], 5), uid: 'uid-env', rsName: 'podinfo-env' },
      rs(3, [B], 11),
    ];
    expect(joinedShas(entries, src)).toEqual([sha(1), sha(1), sha(2)]);
  });

  it('leaves the commit empty for an image that never occurs in Git, without disturbing the others', () => {
    const src = source([commit(1, 0, 'add podinfo'), commit(2, 10, 'bump 1.1')], {
      [A]: [
        [1, true],
        [2, false],
      ],
      [B]: [[2, true]],
    });
    const entries = [rs(1, [A], 1), rs(2, ['ghcr.io/x/podinfo:hotfix'], 5), rs(3, [B], 11)];
    expect(joinedShas(entries, src)).toEqual([sha(1), undefined, sha(2)]);
  });

  it('joins a rollout made outside Git (kubectl rollout undo) to the commit of its image', () => {
    const src = source([commit(1, 0, 'add podinfo'), commit(2, 10, 'bump 1.1')], {
      [A]: [
        [1, true],
        [2, false],
      ],
      [B]: [[2, true]],
    });
    // Flux applied B (commit 2); someone undid to A by hand, reusing its ReplicaSet.
    expect(joinedShas([rs(2, [B], 11), rs(3, [A], 1, [1])], src)).toEqual([sha(2), sha(1)]);
  });

  it('marks the active ReplicaSet and says when only the tag was found', () => {
    const src = source([commit(1, 0, 'set tag')], { [A]: [[1, true]] }, 'tag');
    const [joined] = joinRolloutWithCommits([rs(1, [A], 1)], src, `uid-${A}`);
    expect(joined).toMatchObject({ active: true, joinedBy: 'tag', commit: { sha: sha(1) } });
  });
});

/** A pod template as Git writes it: one container `app`, its env as NAME=value. */
function gitTemplate(image: string, env: string[] = []): PodTemplate {
  return {
    metadata: { labels: { app: 'podinfo' } },
    spec: {
      containers: [
        {
          name: 'app',
          image,
          ports: [{ containerPort: 9898 }],
          ...(env.length ? { env: env.map((e) => ({ name: e.split('=')[0], value: e.split('=')[1] })) } : {}),
        },
      ],
    },
  };
}

/** The same template as the cluster returns it: API defaults and the pod-template-hash added. */
function clusterTemplate(
  image: string,
  env: string[] = [],
  annotations?: Record<string, string>,
): PodTemplate {
  const git = gitTemplate(image, env) as { spec: { containers: Record<string, unknown>[] } };
  return {
    metadata: {
      labels: { app: 'podinfo', 'pod-template-hash': 'abc123' },
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      containers: git.spec.containers.map((c) => ({
        ...c,
        ports: [{ containerPort: 9898, protocol: 'TCP' }],
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
      })),
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Always',
    },
  };
}

describe('joining by the whole pod template', () => {
  const withTemplate = (entry: RolloutHistoryEntry, template: PodTemplate): RolloutHistoryEntry => ({
    ...entry,
    uid: `${entry.uid}-${entry.revision}`,
    template,
  });
  const imageTrail = { [A]: [[1, true]] as [number, boolean][] };

  it('tells apart commits that changed an env var but kept the image, and a commit that removed it', () => {
    const commits = [commit(1, 0, 'add podinfo'), commit(2, 10, 'set LOG=debug'), commit(3, 20, 'drop LOG')];
    const src: AppSourceHistory = {
      ...source(commits, imageTrail),
      templates: new Map([
        [
          'default/podinfo',
          [
            { sha: sha(1), template: gitTemplate(A) },
            { sha: sha(2), template: gitTemplate(A, ['LOG=debug']) },
            { sha: sha(3), template: gitTemplate(A) },
          ],
        ],
      ]),
    };
    // Revision 3 reuses revision 1's ReplicaSet (same template), created at minute 1.
    const entries = [
      withTemplate(rs(2, [A], 11), clusterTemplate(A, ['LOG=debug'])),
      withTemplate(rs(3, [A], 1, [1]), clusterTemplate(A)),
    ];
    const joined = joinRolloutWithCommits(entries, src, undefined, 'default/podinfo');
    expect(joined.map((j) => [j.commit?.sha, j.joinedBy])).toEqual([
      [sha(2), 'template'],
      [sha(3), 'template'],
    ]);
    // The image rule alone names the first commit for both.
    expect(joinRolloutWithCommits(entries, src).map((j) => [j.commit?.sha, j.joinedBy])).toEqual([
      [sha(1), 'image'],
      [sha(1), 'image'],
    ]);
  });

  it('joins a restart made outside Git (a template annotation Git lacks) to the same commit', () => {
    const src: AppSourceHistory = {
      ...source([commit(1, 0, 'add podinfo')], imageTrail),
      templates: new Map([['default/podinfo', [{ sha: sha(1), template: gitTemplate(A) }]]]),
    };
    const restarted = clusterTemplate(A, [], { 'kubectl.kubernetes.io/restartedAt': '2025-03-01T10:05:00Z' });
    const entries = [withTemplate(rs(1, [A], 1), clusterTemplate(A)), withTemplate(rs(2, [A], 5), restarted)];
    const joined = joinRolloutWithCommits(entries, src, undefined, 'default/podinfo');
    expect(joined.map((j) => [j.commit?.sha, j.joinedBy])).toEqual([
      [sha(1), 'template'],
      [sha(1), 'template'],
    ]);
  });

  it('falls back to the image rule when no template in Git describes the ReplicaSet (kustomize images:)', () => {
    const src: AppSourceHistory = {
      ...source([commit(1, 0, 'add podinfo'), commit(2, 10, 'bump tag')], { [B]: [[2, true]] }, 'tag'),
      templates: new Map([['default/podinfo', [{ sha: sha(1), template: gitTemplate(A) }]]]),
    };
    const joined = joinRolloutWithCommits(
      [withTemplate(rs(1, [B], 11), clusterTemplate(B))],
      src,
      undefined,
      'default/podinfo',
    );
    expect(joined.map((j) => [j.commit?.sha, j.joinedBy])).toEqual([[sha(2), 'tag']]);
  });

  it('compares values as text and ignores what the API server adds', () => {
    expect(
      templateCoverage(clusterTemplate(A, ['LOG=debug']), gitTemplate(A, ['LOG=debug'])),
    ).toBeGreaterThan(0);
    expect(templateCoverage(clusterTemplate(A), gitTemplate(A, ['LOG=debug']))).toBeUndefined();
    expect(templateCoverage(clusterTemplate(B), gitTemplate(A))).toBeUndefined();
    const cpu = (value: unknown): PodTemplate => ({
      spec: { containers: [{ name: 'app', resources: { limits: { cpu: value } } }] },
    });
    // Two values set in Git: the container's name and its cpu limit.
    expect(templateCoverage(cpu('1'), cpu(1))).toBe(2);
    // An unnamed list (args) must match item for item.
    const args = (...values: string[]): PodTemplate => ({
      spec: { containers: [{ name: 'app', args: values }] },
    });
    expect(templateCoverage(args('a', 'b'), args('a'))).toBeUndefined();
  });
});

describe('history output', () => {
  const src = source(
    [
      commit(1, 0, 'add podinfo'),
      commit(2, 10, 'bump 1.1'),
      commit(3, 20, 'Revert "bump 1.1"', 'inc-ks.flux-system.podinfo-0123456789ab'),
    ],
    {
      [A]: [
        [1, true],
        [2, false],
        [3, true],
      ],
      [B]: [
        [2, true],
        [3, false],
      ],
      [C]: [],
    },
  );
  const history: DeploymentHistory = {
    deployment: { namespace: 'default', name: 'podinfo' },
    app: 'flux-system/podinfo',
    revisions: joinRolloutWithCommits([rs(2, [B], 11), rs(3, [A], 1, [1])], src, `uid-${A}`),
    notes: [],
  };

  it('prints a table with the active ReplicaSet starred and Rewind reverts marked', () => {
    const lines = formatHistoryTable([history]).split('\n');
    expect(lines[1]).toMatch(
      /^ {2}REVISION {3}REVISION-HISTORY {3}REPLICASET .* COMMIT .* AUTHOR .* SUBJECT$/,
    );
    expect(lines[2]).toMatch(
      /^ {2}2 .* - .* ghcr\.io\/x\/podinfo:1\.1\.0 .* 2\/2 .* ccccccc +Alice +bump 1\.1$/,
    );
    expect(lines[3]).toMatch(/^\* 3 .* 1 .*\[rewind\] Revert "bump 1\.1"$/);
    expect(lines.at(-2)).toContain('* active ReplicaSet');
  });

  it('gives the same rows as JSON, with nulls for what is unknown', () => {
    const bare: DeploymentHistory = {
      deployment: { namespace: 'default', name: 'web' },
      revisions: [{ entry: rs(1, [C], 1), active: true }],
      notes: [],
    };
    const rows = JSON.parse(formatHistoryJson([history, bare])) as HistoryRow[];
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatchObject({
      deployment: 'default/podinfo',
      app: 'flux-system/podinfo',
      active: true,
      revision: 3,
      revisionHistory: [1],
      commit: sha(3),
      subject: 'Revert "bump 1.1"',
      rewindIncident: 'inc-ks.flux-system.podinfo-0123456789ab',
      joinedBy: 'image',
    });
    expect(rows[2]).toMatchObject({
      app: null,
      commit: null,
      author: null,
      subject: null,
      ready: 2,
      desired: 2,
    });
    expect(formatHistoryTable([bare])).toMatch(/\* 1 .* - +- +-\n/);
  });

  it('reads a Deployment as namespace/name, defaulting to the default namespace', () => {
    expect(parseDeploymentRef('apps/web')).toEqual({ namespace: 'apps', name: 'web' });
    expect(parseDeploymentRef('web')).toEqual({ namespace: 'default', name: 'web' });
    expect(() => parseDeploymentRef('a/b/c')).toThrow(/namespace>\/<name>/);
  });
});
