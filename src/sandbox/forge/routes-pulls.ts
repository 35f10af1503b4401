// Pull request endpoints: create (422 for a duplicate head or an empty range), list with GitHub's
// `head=owner:branch` filter, get, update, merge (sha guard, 405/409 refusals), review requests and
// reviews.
import {
  HttpError,
  type Route,
  issueNumber,
  paginate,
  requiredString,
  route,
  stringArrayField,
  stringField,
  validationFailed,
} from './http.ts';
import type { MergeMethod } from './bare-repo.ts';
import type { SandboxRepository } from './repository.ts';

const MERGE_METHODS: readonly string[] = ['merge', 'squash', 'rebase'];
const PULL_STATES: readonly string[] = ['open', 'closed', 'all'];

export function pullRoutes(repository: SandboxRepository): Route[] {
  const { shapes } = repository;
  const optional = <K extends string>(key: K, value: string | undefined): { [P in K]?: string } =>
    (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };

  return [
    route('GET', '/repos/:owner/:repo/pulls', 'pulls.list', async (request) => {
      const state = request.query.get('state') ?? 'open';
      if (!PULL_STATES.includes(state))
        throw validationFailed([{ resource: 'PullRequest', field: 'state', code: 'invalid' }]);
      const pulls = repository.listPulls({
        state,
        ...optional('head', request.query.get('head') ?? undefined),
        ...optional('base', request.query.get('base') ?? undefined),
        ...optional('sort', request.query.get('sort') ?? undefined),
        ...optional('direction', request.query.get('direction') ?? undefined),
      });
      for (const pr of pulls) await repository.refresh(pr);
      return paginate(
        pulls.map((pr) => repository.renderPull(pr)),
        request,
        shapes.apiUrl,
      );
    }),

    route('POST', '/repos/:owner/:repo/pulls', 'pulls.create', async ({ body, login }) => {
      const pr = await repository.createPull(
        {
          title: requiredString(body, 'title'),
          body: stringField(body, 'body') ?? '',
          head: requiredString(body, 'head'),
          base: requiredString(body, 'base'),
        },
        login,
      );
      return {
        status: 201,
        body: repository.renderPull(pr, { mergeable: null, mergeableState: 'unknown' }),
        headers: { location: `${shapes.repoApiUrl}/pulls/${pr.number}` },
      };
    }),

    route('GET', '/repos/:owner/:repo/pulls/:number', 'pulls.get', async ({ params }) => {
      const pr = await repository.pull(issueNumber(params));
      return { status: 200, body: repository.renderPull(pr, await repository.mergeability(pr)) };
    }),

    route('PATCH', '/repos/:owner/:repo/pulls/:number', 'pulls.update', async ({ params, body, login }) => {
      const title = stringField(body, 'title');
      const text = stringField(body, 'body');
      const state = stringField(body, 'state');
      const base = stringField(body, 'base');
      const pr = await repository.updatePull(
        issueNumber(params),
        {
          ...(title === undefined ? {} : { title }),
          ...(text === undefined ? {} : { body: text }),
          ...(state === undefined ? {} : { state }),
          ...(base === undefined ? {} : { base }),
        },
        login,
      );
      return { status: 200, body: repository.renderPull(pr) };
    }),

    route('GET', '/repos/:owner/:repo/pulls/:number/merge', 'pulls.checkIfMerged', async ({ params }) => {
      const pr = await repository.pull(issueNumber(params));
      if (!pr.merged) throw new HttpError(404, 'Not Found');
      return { status: 204 };
    }),

    route(
      'PUT',
      '/repos/:owner/:repo/pulls/:number/merge',
      'pulls.merge',
      async ({ params, body, login }) => {
        const method = stringField(body, 'merge_method') ?? 'merge';
        if (!MERGE_METHODS.includes(method)) {
          throw validationFailed(
            [],
            `Invalid request.\n\n${JSON.stringify(method)} is not a member of ["merge", "squash", "rebase"].`,
          );
        }
        const sha = stringField(body, 'sha');
        const commitTitle = stringField(body, 'commit_title');
        const commitMessage = stringField(body, 'commit_message');
        const result = await repository.mergePull(
          issueNumber(params),
          {
            method: method as MergeMethod,
            ...(sha === undefined ? {} : { sha }),
            ...(commitTitle === undefined ? {} : { commitTitle }),
            ...(commitMessage === undefined ? {} : { commitMessage }),
          },
          login,
        );
        return { status: 200, body: { sha: result.sha, merged: true, message: result.message } };
      },
    ),

    route(
      'GET',
      '/repos/:owner/:repo/pulls/:number/requested_reviewers',
      'pulls.listRequestedReviewers',
      async ({ params }) => {
        const pr = await repository.pull(issueNumber(params));
        const rendered = repository.renderPull(pr);
        return {
          status: 200,
          body: { users: rendered['requested_reviewers'], teams: rendered['requested_teams'] },
        };
      },
    ),

    route(
      'POST',
      '/repos/:owner/:repo/pulls/:number/requested_reviewers',
      'pulls.requestReviewers',
      async ({ params, body, login }) => {
        const pr = await repository.requestReviewers(
          issueNumber(params),
          stringArrayField(body, 'reviewers'),
          stringArrayField(body, 'team_reviewers'),
          login,
        );
        return { status: 201, body: repository.renderPull(pr) };
      },
    ),

    route('GET', '/repos/:owner/:repo/pulls/:number/reviews', 'pulls.listReviews', async (request) => {
      const pr = await repository.pull(issueNumber(request.params));
      return paginate(
        repository.reviews(pr.number).map((r) => shapes.review(r)),
        request,
        shapes.apiUrl,
      );
    }),

    route(
      'POST',
      '/repos/:owner/:repo/pulls/:number/reviews',
      'pulls.createReview',
      async ({ params, body, login }) => {
        const text = stringField(body, 'body');
        const event = stringField(body, 'event');
        const commitId = stringField(body, 'commit_id');
        const review = await repository.addReview(
          issueNumber(params),
          {
            ...(text === undefined ? {} : { body: text }),
            ...(event === undefined ? {} : { event }),
            ...(commitId === undefined ? {} : { commitId }),
          },
          login,
        );
        return { status: 200, body: shapes.review(review) };
      },
    ),
  ];
}
