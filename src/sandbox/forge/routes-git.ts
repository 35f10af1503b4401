// Repository, branch and ref endpoints: answered from (and written to) the real bare repository.
import type { CommitSha } from '../../domain/commit-sha.ts';
import {
  type ForgeResponse,
  HttpError,
  type Route,
  notFound,
  requiredString,
  route,
  validationFailed,
} from './http.ts';
import { SandboxRepository } from './repository.ts';

export function gitRoutes(repository: SandboxRepository): Route[] {
  const { git, shapes } = repository;

  const refBody = (branch: string, sha: string): Record<string, unknown> => ({
    ref: `refs/heads/${branch}`,
    node_id: `REF_sandbox_${branch}`,
    url: `${shapes.repoApiUrl}/git/refs/heads/${branch}`,
    object: { type: 'commit', sha, url: `${shapes.repoApiUrl}/git/commits/${sha}` },
  });

  const branchOf = (ref: string): string => {
    const branch = SandboxRepository.branchFromRef(ref);
    if (branch === undefined)
      throw validationFailed([], 'Reference name is not a valid branch ref (refs/heads/<name>).');
    return branch;
  };

  const commitSha = async (body: Record<string, unknown>): Promise<CommitSha> => {
    const sha = requiredString(body, 'sha');
    if (!(await git.commitExists(sha))) throw validationFailed([], 'Object does not exist');
    return sha as CommitSha;
  };

  return [
    route('GET', '/repos/:owner/:repo', 'repos.get', async () => {
      repository.defaultBranch = await git.defaultBranch();
      return { status: 200, body: shapes.repository(repository.defaultBranch) };
    }),

    route('GET', '/repos/:owner/:repo/branches/*branch', 'repos.getBranch', async ({ params }) => {
      const branch = params['branch'] ?? '';
      const sha = await git.branchSha(branch);
      if (sha === undefined) throw new HttpError(404, 'Branch not found');
      const commit = await git.commit(sha);
      const isProtected =
        branch === (await git.defaultBranch()) &&
        (repository.protection.blockMerges === true || (repository.protection.requiredApprovals ?? 0) > 0);
      return {
        status: 200,
        body: {
          name: branch,
          commit: {
            sha,
            node_id: `C_sandbox_${sha}`,
            url: `${shapes.repoApiUrl}/commits/${sha}`,
            commit: {
              message: commit.message,
              tree: { sha: commit.tree },
              author: commit.author,
              committer: commit.committer,
            },
            parents: commit.parents.map((p) => ({ sha: p, url: `${shapes.repoApiUrl}/commits/${p}` })),
          },
          protected: isProtected,
          _links: {
            self: `${shapes.repoApiUrl}/branches/${branch}`,
            html: `${shapes.repoHtmlUrl}/tree/${branch}`,
          },
        },
      };
    }),

    route('GET', '/repos/:owner/:repo/git/ref/*ref', 'git.getRef', async ({ params }) => {
      const branch = SandboxRepository.branchFromRef(params['ref'] ?? '');
      const sha = branch === undefined ? undefined : await git.branchSha(branch);
      if (branch === undefined || sha === undefined) throw notFound();
      return { status: 200, body: refBody(branch, sha) };
    }),

    route(
      'POST',
      '/repos/:owner/:repo/git/refs',
      'git.createRef',
      async ({ body }): Promise<ForgeResponse> => {
        const ref = requiredString(body, 'ref');
        if (!/^refs\/[^/]+\/.+/.test(ref)) {
          throw validationFailed([], "Reference name must start with 'refs/' and have at least two slashes.");
        }
        const branch = branchOf(ref);
        const sha = await commitSha(body);
        if ((await git.createBranch(branch, sha)) === 'exists')
          throw validationFailed([], 'Reference already exists');
        return {
          status: 201,
          body: refBody(branch, sha),
          headers: { location: `${shapes.repoApiUrl}/git/refs/heads/${branch}` },
        };
      },
    ),

    route('PATCH', '/repos/:owner/:repo/git/refs/*ref', 'git.updateRef', async ({ params, body }) => {
      const branch = branchOf(params['ref'] ?? '');
      const sha = requiredString(body, 'sha');
      const force = body['force'] === true;
      const result = await git.updateBranch(branch, sha as CommitSha, force);
      if (result === 'missing') throw validationFailed([], 'Reference does not exist');
      if (result === 'unknown-sha') throw validationFailed([], 'Object does not exist');
      if (result === 'not-fast-forward') throw validationFailed([], 'Update is not a fast forward');
      return { status: 200, body: refBody(branch, sha) };
    }),

    route('DELETE', '/repos/:owner/:repo/git/refs/*ref', 'git.deleteRef', async ({ params, login }) => {
      const branch = branchOf(params['ref'] ?? '');
      if (!(await repository.deleteBranch(branch, login)))
        throw validationFailed([], 'Reference does not exist');
      return { status: 204 };
    }),
  ];
}
