import { describe, expect, it } from 'vitest';
import type { RolloutHistoryEntry } from '../../src/cluster/rollout-history.ts';
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
