// One process of the shared-workdir test (test/integration/git-mirror-lock.test.ts): rounds of
// fetch into the shared mirror, a worktree, a commit and a push of it, all through GitWorkspace with
// the Redis mirror lock the runtime uses. Prints {"ok": n, "errors": [...]} and exits 1 on any error.
// argv: workdir remote redisUrl prefix id rounds
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { GitWorkspace } from '../../src/git/workspace.ts';
import { redisLock } from '../../src/queue/lock.ts';

const [workdir, remote, redisUrl, prefix, id, rounds] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const workspace = new GitWorkspace({
  root: workdir,
  author: { name: 'Hammer', email: 'hammer@example.invalid' },
  allowedProtocols: ['file'],
  mirrorLock: redisLock(redis, prefix, { leaseMs: 30_000, waitMs: 120_000 }),
});
const errors: string[] = [];
let ok = 0;
for (let round = 0; round < Number(rounds); round++) {
  try {
    const mirror = await workspace.syncMirror(remote);
    const head = parseCommitSha((await mirror.repo.text(['rev-parse', 'refs/heads/main'])).trim());
    await workspace.withWorktree(mirror, head, async (worktree) => {
      await writeFile(path.join(worktree.dir, `${id}.txt`), `${id} ${round}\n`);
      await worktree.run(['add', '--', `${id}.txt`]);
      await worktree.run(['commit', '--quiet', '-m', `${id} round ${round}`]);
      await workspace.withMirrorLock(remote, () =>
        worktree.run(['push', '--porcelain', 'origin', `HEAD:refs/heads/${id}-${round}`]),
      );
    });
    ok++;
  } catch (error) {
    errors.push((error as Error).message);
  }
}
redis.disconnect();
console.log(JSON.stringify({ ok, errors }));
process.exitCode = errors.length === 0 ? 0 : 1;
