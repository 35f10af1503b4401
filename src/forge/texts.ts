// What Rewind writes on pull requests, as the pipeline's PullRequestTexts port wants it; the
// rendering itself lives in pr-body.ts.
import { buildRollbackMarker } from '../domain/branch.ts';
import { parseCommitSha } from '../domain/commit-sha.ts';
import type { PullRequestTexts } from '../pipeline/pull-request.ts';
import {
  refusedCommentMarker,
  renderPullRequestBody,
  renderPullRequestTitle,
  renderRefusedComment,
  safeText,
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
      `- **${safeText(app.label, 200)}**: \`${safeText(app.reason, 100)}\`: ${safeText(app.message)}`,
      '',
      buildRollbackMarker({ incident: incidentId, culprit: parseCommitSha(culprit) }),
      '',
    ].join('\n');
  },
  refused({ incidentId, status, message, expectedSha }) {
    return {
      marker: refusedCommentMarker(incidentId),
      body: renderRefusedComment({ incidentId, status, message, expectedSha }),
    };
  },
};
