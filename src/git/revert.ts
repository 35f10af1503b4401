import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommitSha } from '../domain/commit-sha.ts';
import { INCIDENT_TRAILER, REVERTS_TRAILER, type CandidateCommit } from './culprit.ts';
import { isCovered } from './path-closure.ts';
import { restoreDiscards, revertExceedsCulprits } from './people-first.ts';
import { type GitAuthor, type GitRepo, pathspecs } from './repo.ts';

export type RevertOutcome =
  /** The whole commit(s) reverted. */
  | { readonly kind: 'reverted'; readonly sha: CommitSha; readonly paths: readonly string[] }
  /** Only the failing apps' part reverted (the commit also touched healthy apps, or the whole revert conflicted). */
  | { readonly kind: 'scoped'; readonly sha: CommitSha; readonly paths: readonly string[] }
  /** Reverting conflicted: the failing apps' touched files were restored to the last good revision. */
  | { readonly kind: 'restored'; readonly sha: CommitSha; readonly paths: readonly string[] }
  | { readonly kind: 'needs-human'; readonly conflicts: readonly string[]; readonly message: string }
  /** The failing apps' paths already match what a revert would produce (e.g. reverted by someone else). */
  | { readonly kind: 'nothing-to-revert'; readonly message: string };

export interface BuildRevertInput {
  /** Commits to revert, newest first. */
  readonly commits: readonly CandidateCommit[];
  readonly incidentId: string;
  /** Labels of the failing apps, for the commit message (`flux-system/podinfo`). */
  readonly failingApps: readonly string[];
  /** Union of the failing apps' path closures. */
  readonly failingPaths: readonly string[];
  /** Union of the closures of the other known (healthy) apps. */
  readonly otherAppsPaths: readonly string[];
  /** Last good revision, for the restore fallback. */
  readonly good?: CommitSha;
  /** How the culprit was found (`single-commit, high`), for the message. */
  readonly rule?: string;
  /** Who asked for the rollback, where and why (already one sanitised line), for the message. */
  readonly requestedBy?: string;
  /** Rewind's own commit author: its commits are never "somebody's work" a restore would discard. */
  readonly rewindAuthor?: GitAuthor;
}

/**
 * Builds one revert commit on the worktree's HEAD. Strategy: whole revert when every app the
 * commits touch is failing; else (or on conflict) a revert scoped to the failing apps' paths; on
 * conflict again, restore those paths to the last good revision; else needs-human.
 */
export async function buildRevert(worktree: GitRepo, input: BuildRevertInput): Promise<RevertOutcome> {
  if (input.commits.length === 0) return { kind: 'nothing-to-revert', message: 'No commit to revert.' };
  const touched = new Set<string>();
  for (const commit of input.commits) for (const f of await worktree.changedFiles(commit.sha)) touched.add(f);
  const touchedFailing = [...touched].filter((f) => isCovered(f, input.failingPaths));
  const touchesHealthyApp = [...touched].some(
    (f) => isCovered(f, input.otherAppsPaths) && !isCovered(f, input.failingPaths),
  );
  if (touchedFailing.length === 0) {
    return { kind: 'nothing-to-revert', message: "The commits do not touch the failing apps' paths." };
  }

  const conflicts = new Set<string>();
  if (!touchesHealthyApp) {
    const whole = await tryWholeRevert(worktree, input.commits, conflicts);
    if (whole)
      return onlyTheCulprits(
        worktree,
        input,
        await commitOrNothing(worktree, input, 'reverted', [...touched]),
      );
  }
  const scoped = await tryScopedRevert(worktree, input.commits, touchedFailing, conflicts);
  if (scoped)
    return onlyTheCulprits(worktree, input, await commitOrNothing(worktree, input, 'scoped', touchedFailing));
  if (input.good !== undefined) {
    // Restoring the files to the last good revision is only a revert when nobody else changed them
    // since: otherwise it would silently discard their commits (people come first).
    const head = await worktree.head();
    const discarded = await restoreDiscards(
      worktree,
      input.good,
      head,
      touchedFailing,
      input.commits,
      input.rewindAuthor ?? { name: '', email: '' },
    );
    if (discarded.length > 0) {
      return {
        kind: 'needs-human',
        conflicts: [...conflicts].sort(),
        message: `Reverting ${input.commits.map((c) => c.sha.slice(0, 7)).join(', ')} conflicts in ${[...conflicts].join(', ') || touchedFailing.join(', ')}, and restoring those files to the last good revision would discard ${discarded.length} later commit(s) by other people (${discarded.map((c) => c.sha.slice(0, 7)).join(', ')}); revert by hand.`,
      };
    }
    await restoreFiles(worktree, input.good, touchedFailing);
    return onlyTheCulprits(
      worktree,
      input,
      await commitOrNothing(worktree, input, 'restored', touchedFailing),
    );
  }
  return {
    kind: 'needs-human',
    conflicts: [...conflicts].sort(),
    message: `Reverting ${input.commits.map((c) => c.sha.slice(0, 7)).join(', ')} conflicts in ${[...conflicts].join(', ')} and no last good revision is known to restore from; revert by hand.`,
  };
}

async function tryWholeRevert(
  worktree: GitRepo,
  commits: readonly CandidateCommit[],
  conflicts: Set<string>,
): Promise<boolean> {
  for (const commit of commits) {
    const result = await worktree.run(
      [
        'revert',
        '--no-commit',
        '--no-edit',
        ...(commit.mainline === undefined ? [] : ['-m', '1']),
        commit.sha,
      ],
      { okExitCodes: [1] },
    );
    if (result.exitCode !== 0) {
      for (const f of await unmergedFiles(worktree)) conflicts.add(f);
      await resetHard(worktree);
      return false;
    }
  }
  return true;
}

/** Applies each commit's reverse diff (vs. its first parent), limited to `files`, with a 3-way merge. */
async function tryScopedRevert(
  worktree: GitRepo,
  commits: readonly CandidateCommit[],
  files: readonly string[],
  conflicts: Set<string>,
): Promise<boolean> {
  const patchFile = path.join(worktree.dir, `.rewind-${randomBytes(6).toString('hex')}.patch`);
  try {
    for (const commit of commits) {
      const parent = commit.parents[0];
      const reverse =
        parent === undefined
          ? await worktree.text([
              'diff',
              '--binary',
              commit.sha,
              '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
              '--',
              ...pathspecs(files),
            ])
          : await worktree.text(['diff', '--binary', commit.sha, parent, '--', ...pathspecs(files)]);
      if (reverse.trim() === '') continue;
      await writeFile(patchFile, reverse);
      const result = await worktree.run(['apply', '--3way', '--index', '--whitespace=nowarn', patchFile], {
        okExitCodes: [1],
      });
      if (result.exitCode !== 0) {
        for (const f of await unmergedFiles(worktree)) conflicts.add(f);
        if (conflicts.size === 0) for (const f of files) conflicts.add(f);
        await resetHard(worktree);
        return false;
      }
    }
    return true;
  } finally {
    await rm(patchFile, { force: true });
  }
}

/** `git checkout <good> -- <files>`, including deleting files that did not exist at good. */
async function restoreFiles(worktree: GitRepo, good: CommitSha, files: readonly string[]): Promise<void> {
  const existing: string[] = [];
  const absent: string[] = [];
  for (const f of files) ((await worktree.objectType(good, f)) === 'blob' ? existing : absent).push(f);
  if (existing.length > 0) await worktree.run(['checkout', good, '--', ...pathspecs(existing)]);
  if (absent.length > 0)
    await worktree.run(['rm', '-q', '-r', '-f', '--ignore-unmatch', '--', ...pathspecs(absent)]);
}

/**
 * The last word before a revert commit leaves the builder: it may take back only what the culprits
 * changed. A commit that removes or adds any other line is dropped and the incident needs a person.
 */
async function onlyTheCulprits(
  worktree: GitRepo,
  input: BuildRevertInput,
  outcome: RevertOutcome,
): Promise<RevertOutcome> {
  if (!('sha' in outcome)) return outcome;
  const exceeding = await revertExceedsCulprits(worktree, outcome.sha, input.commits, outcome.paths);
  if (exceeding.length === 0) return outcome;
  await worktree.run(['reset', '--quiet', '--hard', 'HEAD~1']);
  return {
    kind: 'needs-human',
    conflicts: exceeding,
    message: `The ${outcome.kind} revert of ${input.commits.map((c) => c.sha.slice(0, 7)).join(', ')} would also undo lines the culprit did not write in ${exceeding.join(', ')} (somebody changed them since); revert by hand.`,
  };
}

async function commitOrNothing(
  worktree: GitRepo,
  input: BuildRevertInput,
  kind: 'reverted' | 'scoped' | 'restored',
  paths: readonly string[],
): Promise<RevertOutcome> {
  const staged = (await worktree.text(['diff', '--cached', '--name-only', '-z'])).split('\0').filter(Boolean);
  if (staged.length === 0) {
    await resetHard(worktree);
    return {
      kind: 'nothing-to-revert',
      message: "The failing apps' paths already match the reverted state.",
    };
  }
  await worktree.run(['commit', '--quiet', '--no-verify', '-m', revertMessage(input, kind, paths)]);
  return { kind, sha: await worktree.head(), paths: [...paths].sort() };
}

export function revertMessage(
  input: BuildRevertInput,
  kind: 'reverted' | 'scoped' | 'restored',
  paths: readonly string[],
): string {
  const [first] = input.commits;
  const subject =
    input.commits.length === 1 && first !== undefined
      ? `Revert "${first.subject}"`
      : `Revert ${input.commits.length} commits breaking ${input.failingApps.join(', ')}`;
  const body: string[] = [
    `Rewind reverts ${input.commits.map((c) => `${c.sha} ("${c.subject}")`).join(', ')} because ${input.failingApps.join(', ')} ${input.failingApps.length === 1 ? 'fails' : 'fail'} since ${input.commits.length === 1 ? 'it' : 'they'} landed.`,
  ];
  if (input.rule !== undefined) body.push(`Culprit rule: ${input.rule}.`);
  if (input.requestedBy !== undefined)
    body.push(`Requested by ${input.requestedBy.replace(/[\r\n]+/g, ' ')}`);
  if (kind === 'scoped')
    body.push(`Scope: only the failing apps' files (${paths.join(', ')}); other apps keep the change.`);
  if (kind === 'restored') {
    body.push(
      `Reverting conflicted; restored ${paths.join(', ')} to the last good revision ${input.good ?? ''}.`,
    );
  }
  const trailers = [
    ...input.commits.map((c) => `${REVERTS_TRAILER}: ${c.sha}`),
    `${INCIDENT_TRAILER}: ${input.incidentId}`,
  ];
  return `${subject}\n\n${body.join('\n')}\n\n${trailers.join('\n')}\n`;
}

async function unmergedFiles(worktree: GitRepo): Promise<string[]> {
  return worktree.lines(['diff', '--name-only', '--diff-filter=U']);
}

async function resetHard(worktree: GitRepo): Promise<void> {
  await worktree.run(['revert', '--quit'], { okExitCodes: [128, 1] });
  await worktree.run(['reset', '--quiet', '--hard', 'HEAD']);
  await worktree.run(['clean', '-q', '-f', '-d']);
}
