// What Rewind writes on pull requests, as the pipeline's PullRequestTexts port wants it; the
// rendering itself lives in pr-body.ts.
import { buildRollbackMarker } from '../domain/branch.ts';
import { parseCommitSha } from '../domain/commit-sha.ts';
import { codeSpan, markdownLine, plainLine } from '../domain/outbound-text.ts';
import type { PullRequestTexts } from '../pipeline/pull-request.ts';
import { INCIDENT_TRAILER, REVERTS_TRAILER } from '../git/culprit.ts';
import {
  GITHUB_MAX_TITLE_CHARS,
  appName,
  refusedCommentMarker,
  renderPullRequestBody,
  renderPullRequestTitle,
  renderRefusedComment,
} from './pr-body.ts';

function confidence(value: string): 'high' | 'medium' | 'low' {
  return value === 'high' || value === 'medium' ? value : 'low';
}

export const pullRequestTexts: PullRequestTexts = {
  pullRequest(content) {
    const input = {
      ...content,
      culprit: { ...content.culprit, sha: parseCommitSha(content.culprit.sha) },
      confidence: confidence(content.confidence),
    };
    return { title: renderPullRequestTitle(input), body: renderPullRequestBody(input) };
  },
  alsoFailing({ incidentId, culprit, app }) {
    return [
      '',
      '',
      '### Also failing on this commit',
      '',
      `- ${appName(app.label)}: ${codeSpan(app.reason, 100)}: ${markdownLine(app.message, 1_000)}`,
      '',
      buildRollbackMarker({ incident: incidentId, culprit: parseCommitSha(culprit) }),
      '',
    ].join('\n');
  },
  listsApp(body, label) {
    return body.includes(appName(label));
  },
  mergeCommit({ number, branch, title, method, reverts }) {
    // The PR title is Rewind's own (rendered from plain text): one line, credentials out.
    const line = plainLine(title, GITHUB_MAX_TITLE_CHARS);
    const trailers = [
      ...new Set(reverts.map((r) => `${REVERTS_TRAILER}: ${r.culprit}`)),
      ...new Set(reverts.map((r) => `${INCIDENT_TRAILER}: ${r.incident}`)),
    ];
    return {
      // The squash title keeps GitHub's "<PR title> (#N)" shape, the merge title GitHub's classic
      // one: both are marks Rewind recognises (src/git/own-commit.ts), trailers or not.
      title: method === 'merge' ? `Merge pull request #${number} from ${branch}` : `${line} (#${number})`,
      message: `Rewind merges pull request #${number} from its branch ${branch}.\n\n${trailers.join('\n')}\n`,
    };
  },
  refused({ incidentId, status, message, expectedSha }) {
    return {
      marker: refusedCommentMarker(incidentId),
      body: renderRefusedComment({ incidentId, status, message, expectedSha }),
    };
  },
};
