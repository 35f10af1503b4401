// Issue endpoints a pull request answers to: comments (list, create, get, edit), reactions on
// comments, and labels (added, created in the repository on first use, as GitHub does).
import {
  HttpError,
  type Route,
  issueNumber,
  paginate,
  requiredString,
  route,
  validationFailed,
} from './http.ts';
import type { SandboxRepository } from './repository.ts';

export function issueRoutes(repository: SandboxRepository): Route[] {
  const { shapes, state } = repository;

  const commentOf = (params: Readonly<Record<string, string>>) => {
    const comment = state.comment(issueNumber(params, 'id'));
    if (comment === undefined) throw new HttpError(404, 'Not Found');
    return comment;
  };

  return [
    route('POST', '/repos/:owner/:repo/issues', 'issues.create', async ({ body, login }) => {
      const issue = repository.createIssue(
        requiredString(body, 'title'),
        typeof body['body'] === 'string' ? body['body'] : '',
        login,
      );
      return { status: 201, body: repository.renderIssue({ issue }) };
    }),

    route('GET', '/repos/:owner/:repo/issues/:number', 'issues.get', async ({ params }) => ({
      status: 200,
      body: repository.renderIssue(await repository.issueOrPull(issueNumber(params))),
    })),

    route(
      'GET',
      '/repos/:owner/:repo/collaborators/:username/permission',
      'repos.getCollaboratorPermissionLevel',
      async ({ params }) => {
        const login = params['username'] ?? '';
        // GitHub answers 404 for a login that does not exist at all.
        if (!repository.users.isKnown(login)) throw new HttpError(404, 'Not Found');
        return { status: 200, body: shapes.permission(login) };
      },
    ),

    route('GET', '/repos/:owner/:repo/issues/:number/comments', 'issues.listComments', async (request) => {
      const target = await repository.issueOrPull(issueNumber(request.params));
      const number = 'issue' in target ? target.issue.number : target.pr.number;
      const since = request.query.get('since');
      const comments = repository.comments(number).filter((c) => since === null || c.updatedAt >= since);
      return paginate(
        comments.map((c) => repository.renderComment(c)),
        request,
        shapes.apiUrl,
      );
    }),

    route(
      'POST',
      '/repos/:owner/:repo/issues/:number/comments',
      'issues.createComment',
      async ({ params, body, login }) => {
        const comment = await repository.addComment(issueNumber(params), requiredString(body, 'body'), login);
        return {
          status: 201,
          body: repository.renderComment(comment),
          headers: { location: `${shapes.repoApiUrl}/issues/comments/${comment.id}` },
        };
      },
    ),

    route('GET', '/repos/:owner/:repo/issues/comments/:id', 'issues.getComment', async ({ params }) => ({
      status: 200,
      body: repository.renderComment(commentOf(params)),
    })),

    route(
      'PATCH',
      '/repos/:owner/:repo/issues/comments/:id',
      'issues.updateComment',
      async ({ params, body, login }) => {
        const comment = await repository.editComment(
          commentOf(params).id,
          requiredString(body, 'body'),
          login,
        );
        return { status: 200, body: shapes.comment(comment) };
      },
    ),

    route(
      'GET',
      '/repos/:owner/:repo/issues/comments/:id/reactions',
      'reactions.listForIssueComment',
      async (request) => {
        const comment = commentOf(request.params);
        const content = request.query.get('content');
        const reactions = state.reactions.filter(
          (r) => r.commentId === comment.id && (content === null || r.content === content),
        );
        return paginate(
          reactions.map((r) => shapes.reaction(r)),
          request,
          shapes.apiUrl,
        );
      },
    ),

    route(
      'POST',
      '/repos/:owner/:repo/issues/comments/:id/reactions',
      'reactions.createForIssueComment',
      async ({ params, body, login }) => {
        const { reaction, created } = repository.addReaction(
          commentOf(params).id,
          requiredString(body, 'content'),
          login,
        );
        return { status: created ? 201 : 200, body: shapes.reaction(reaction) };
      },
    ),

    route('GET', '/repos/:owner/:repo/issues/:number/labels', 'issues.listLabelsOnIssue', async (request) => {
      const pr = await repository.pull(issueNumber(request.params));
      return paginate(
        repository.labelsOf(pr).map((l) => shapes.label(l)),
        request,
        shapes.apiUrl,
      );
    }),

    route(
      'POST',
      '/repos/:owner/:repo/issues/:number/labels',
      'issues.addLabels',
      async ({ params, body, login }) => {
        const pr = await repository.pull(issueNumber(params));
        // Octokit sends {labels: [...]}; the API also takes a bare array or [{name}].
        const raw: unknown = body['labels'] ?? body['_array'];
        if (!Array.isArray(raw))
          throw validationFailed([{ resource: 'Label', field: 'labels', code: 'missing_field' }]);
        const names = raw.map((entry: unknown) => {
          if (typeof entry === 'string') return entry;
          if (
            typeof entry === 'object' &&
            entry !== null &&
            typeof (entry as { name?: unknown }).name === 'string'
          ) {
            return (entry as { name: string }).name;
          }
          throw validationFailed([{ resource: 'Label', field: 'labels', code: 'invalid' }]);
        });
        return { status: 200, body: repository.addLabels(pr, names, login).map((l) => shapes.label(l)) };
      },
    ),
  ];
}
