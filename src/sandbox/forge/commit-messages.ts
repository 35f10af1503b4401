// The message GitHub writes on a merge or squash commit when the merge call (or the person at the
// merge button) gives none, per the repository's settings `merge_commit_title` /
// `merge_commit_message` and `squash_merge_commit_title` / `squash_merge_commit_message`, with
// GitHub's defaults. Rebase merges keep each commit's own message and never use these.
// Source: GitHub Docs, "About pull request merges" (merge message for a squash merge) and the
// repository settings in the REST API ("Update a repository").

export interface CommitMessageSettings {
  /** MERGE_MESSAGE: "Merge pull request #N from owner/branch"; PR_TITLE: the PR's title. */
  readonly mergeCommitTitle: 'MERGE_MESSAGE' | 'PR_TITLE';
  readonly mergeCommitMessage: 'PR_TITLE' | 'PR_BODY' | 'BLANK';
  /** COMMIT_OR_PR_TITLE: the single commit's title, or the PR's title for several commits. */
  readonly squashMergeCommitTitle: 'COMMIT_OR_PR_TITLE' | 'PR_TITLE';
  /** COMMIT_MESSAGES: the single commit's body, or every commit's message ("* " first), oldest first. */
  readonly squashMergeCommitMessage: 'COMMIT_MESSAGES' | 'PR_BODY' | 'BLANK';
}

export const GITHUB_DEFAULT_COMMIT_MESSAGES: CommitMessageSettings = {
  mergeCommitTitle: 'MERGE_MESSAGE',
  mergeCommitMessage: 'PR_TITLE',
  squashMergeCommitTitle: 'COMMIT_OR_PR_TITLE',
  squashMergeCommitMessage: 'COMMIT_MESSAGES',
};

export interface MergedPull {
  readonly number: number;
  readonly title: string;
  readonly body: string;
  readonly owner: string;
  readonly headRef: string;
  /** Full messages of the pull request's commits (merges left out), oldest first. */
  readonly commitMessages: readonly string[];
}

function splitMessage(message: string): { subject: string; body: string } {
  const [subject = '', ...rest] = message.split('\n');
  return { subject: subject.trim(), body: rest.join('\n').trim() };
}

/** The commit message of a merge or squash; `title`/`message` are what the caller gave, if anything. */
export function defaultCommitMessage(
  method: 'merge' | 'squash',
  pr: MergedPull,
  settings: CommitMessageSettings,
  given: { title?: string; message?: string } = {},
): string {
  let title: string;
  let body: string;
  if (method === 'merge') {
    title =
      given.title ??
      (settings.mergeCommitTitle === 'PR_TITLE'
        ? `${pr.title} (#${pr.number})`
        : `Merge pull request #${pr.number} from ${pr.owner}/${pr.headRef}`);
    body = given.message ?? { PR_TITLE: pr.title, PR_BODY: pr.body, BLANK: '' }[settings.mergeCommitMessage];
  } else {
    const [only] = pr.commitMessages;
    const single = pr.commitMessages.length === 1 && only !== undefined ? splitMessage(only) : undefined;
    const fromCommit = settings.squashMergeCommitTitle === 'COMMIT_OR_PR_TITLE' && single !== undefined;
    title = given.title ?? `${fromCommit ? single.subject : pr.title} (#${pr.number})`;
    const commits = fromCommit ? single.body : pr.commitMessages.map((m) => `* ${m.trim()}`).join('\n\n');
    body =
      given.message ??
      { COMMIT_MESSAGES: commits, PR_BODY: pr.body, BLANK: '' }[settings.squashMergeCommitMessage];
  }
  return body.trim() === '' ? title : `${title}\n\n${body}`;
}
