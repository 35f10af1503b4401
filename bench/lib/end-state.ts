// What the fault campaign counts, read from the real end state (the bare repository's history and
// the forge's records), never from Rewind's own incident records: a Rewind that believes it did the
// right thing is exactly what a fault campaign must be able to contradict.
import { simpleGit } from 'simple-git';

export interface MainCommit {
  readonly sha: string;
  readonly parents: readonly string[];
  readonly authorEmail: string;
  readonly message: string;
}

/** How to tell Rewind's commits apart, by every durable mark (a squash drops trailers and author). */
export interface RewindMarks {
  /** Rewind's configured git author (git.author.email). */
  readonly authorEmail: string;
  /** Commits the forge made when merging Rewind's pull requests (MergeRecord.sha). */
  readonly mergeShas?: readonly string[];
  /** Numbers of Rewind's pull requests: GitHub's squash title ends "(#N)", merge commits name "#N". */
  readonly pullNumbers?: readonly number[];
}

/** main's history, newest first (first line of each field separated by unit/record separators). */
export async function mainHistory(remote: string, branch = 'main'): Promise<MainCommit[]> {
  const out = await simpleGit(remote).raw(['log', '--format=%H%x1f%P%x1f%ae%x1f%B%x1e', branch, '--']);
  return out
    .split('\x1e')
    .map((entry) => entry.replace(/^\n/, ''))
    .filter((entry) => entry.includes('\x1f'))
    .map((entry) => {
      const [sha = '', parents = '', authorEmail = '', message = ''] = entry.split('\x1f');
      return { sha, parents: parents.split(' ').filter(Boolean), authorEmail, message };
    });
}

export function isRewindCommit(commit: MainCommit, marks: RewindMarks): boolean {
  if (/^Rewind-Incident: /m.test(commit.message)) return true;
  if (commit.authorEmail === marks.authorEmail) return true;
  if (marks.mergeShas?.includes(commit.sha)) return true;
  const subject = commit.message.split('\n')[0] ?? '';
  return (marks.pullNumbers ?? []).some(
    (n) => subject.endsWith(`(#${n})`) || subject.startsWith(`Merge pull request #${n} `),
  );
}

/**
 * Rewind's own changes to the tree: its single-parent commits (a revert, a squash or rebase of a
 * revert PR). Merge commits of revert PRs are left out so one revert is not counted twice.
 */
export function rewindChanges(history: readonly MainCommit[], marks: RewindMarks): MainCommit[] {
  return history.filter((c) => c.parents.length === 1 && isRewindCommit(c, marks));
}

/** Lines the commit adds against its first parent (under `paths`), without the diff header. */
export async function addedLines(
  remote: string,
  commit: MainCommit,
  paths: readonly string[],
): Promise<string[]> {
  const parent = commit.parents[0];
  if (!parent) return [];
  const diff = await simpleGit(remote).raw(['diff', '--no-color', parent, commit.sha, '--', ...paths]);
  return diff
    .split('\n')
    .filter((line) => line.startsWith('+') && !line.startsWith('+++'))
    .map((line) => line.slice(1));
}

/** SHAs (full or abbreviated, 7+ hex) a commit message says it reverts. */
export function revertedShas(message: string): string[] {
  const shas: string[] = [];
  for (const match of message.matchAll(/^(?:Reverts: *|This reverts commit )([0-9a-f]{7,40})/gm))
    shas.push(match[1]!);
  return shas;
}

/**
 * Rewind commits that revert a Rewind commit (by their Reverts:/"This reverts commit" line) or that
 * put a broken image back (a `+` line containing `brokenMark` in the app's files).
 */
export async function revertsOfReverts(
  remote: string,
  history: readonly MainCommit[],
  marks: RewindMarks,
  brokenMark: string,
  paths: readonly string[],
): Promise<MainCommit[]> {
  const all = history.filter((c) => isRewindCommit(c, marks));
  const found: MainCommit[] = [];
  for (const commit of rewindChanges(history, marks)) {
    const namesRewind = revertedShas(commit.message).some((sha) => all.some((r) => r.sha.startsWith(sha)));
    const reintroduces = (await addedLines(remote, commit, paths)).some((l) => l.includes(brokenMark));
    if (namesRewind || reintroduces) found.push(commit);
  }
  return found;
}

/** The file at the tip of main. */
export async function fileAtHead(remote: string, file: string, branch = 'main'): Promise<string> {
  return simpleGit(remote).raw(['show', `${branch}:${file}`]);
}

/**
 * Whether a person's commit is overwritten: the head no longer carries `personLine`, or a Rewind
 * commit newer than the person's commit changed a line of `file` after it.
 */
export async function personOverwritten(
  remote: string,
  history: readonly MainCommit[],
  marks: RewindMarks,
  person: { sha: string; file: string; line: string },
): Promise<boolean> {
  if (!(await fileAtHead(remote, person.file)).includes(person.line)) return true;
  const index = history.findIndex((c) => c.sha === person.sha);
  if (index < 0) return true; // the person's commit is gone from main altogether
  for (const later of rewindChanges(history.slice(0, index), marks)) {
    if ((await addedLines(remote, later, [person.file])).length > 0) return true;
  }
  return false;
}
