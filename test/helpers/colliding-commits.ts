// Commits whose SHAs share a prefix, for tests of short-SHA resolution (ChatOps, `rewind rollback --to`).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';

/**
 * Two commits (children of `parent`, same tree) whose SHAs share their first 7 hex digits, found
 * by hashing candidate commit objects in memory (a birthday search over 28 bits: ~20k hashes), then
 * written to the repository. Returns them with the shared prefix.
 */
export function collidingCommits(cwd: string, parent: string): { prefix: string; shas: [string, string] } {
  const tree = execFileSync('git', ['rev-parse', `${parent}^{tree}`], { cwd, encoding: 'utf8' }).trim();
  const body = (i: number): string =>
    `tree ${tree}\nparent ${parent}\nauthor T <t@example.com> 1700000000 +0000\ncommitter T <t@example.com> 1700000000 +0000\n\nnear miss ${i}\n`;
  const seen = new Map<string, number>();
  for (let i = 0; ; i++) {
    const text = body(i);
    const sha = createHash('sha1')
      .update(`commit ${Buffer.byteLength(text)}\0${text}`)
      .digest('hex');
    const prefix = sha.slice(0, 7);
    const other = seen.get(prefix);
    if (other === undefined) {
      seen.set(prefix, i);
      continue;
    }
    const write = (t: string): string =>
      execFileSync('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], {
        cwd,
        input: t,
        encoding: 'utf8',
      }).trim();
    return { prefix, shas: [write(body(other)), write(text)] };
  }
}
