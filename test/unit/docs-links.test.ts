// The documentation is checked as a reader would follow it: every relative link in README.md and
// docs/**/*.md opens an existing file, every `#anchor` into a Markdown page names one of its headings
// (GitHub's slugs), and no page points at things a reader cannot open (this project's issue numbers,
// notes kept outside the repository, the machine a figure was taken on).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/**
 * Pages another change adds (the getting-started walkthrough, the configuration reference generated
 * from the schema). Links to them are allowed while they are absent; once a page exists, its links and
 * anchors are checked like any other. Remove an entry when its page is in the repository.
 */
function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(root, dir)).sort()) {
      const path = `${dir}/${name}`;
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else if (name.endsWith('.md')) out.push(path);
    }
  };
  walk('docs');
  return out;
}

/** The text outside fenced code blocks, line by line (line numbers kept), code spans blanked. */
function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return '';
    }
    if (fence !== undefined) return '';
    return line.replace(/(`+)[^`]*?\1/g, (span) => ' '.repeat(span.length));
  });
}

/** GitHub's heading anchor: lowercase, punctuation other than '-' and '_' dropped, spaces to '-'. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text stays, its target goes
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors a Markdown page offers: its headings' slugs, repeated ones numbered as GitHub does. */
function anchorsOf(path: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fence: string | undefined;
  for (const line of readFileSync(join(root, path), 'utf8').split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

function linksOf(file: string): Link[] {
  const links: Link[] = [];
  proseLines(readFileSync(join(root, file), 'utf8')).forEach((text, i) => {
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ file, line: i + 1, target: m[1]! });
    }
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/.exec(text);
    if (definition) links.push({ file, line: i + 1, target: definition[1]! });
  });
  return links;
}

/** Why a relative link does not resolve, or undefined when it does. */
function brokenReason(link: Link): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) return undefined; // https:, mailto: ...
  const [rawPath = '', anchor] = link.target.split('#', 2);
  const path = decodeURIComponent(rawPath);
  const resolved = path === '' ? link.file : relative(root, join(root, dirname(link.file), path));
  if (resolved.startsWith('..')) return `${resolved} is outside the repository`;
  if (!existsSync(join(root, resolved))) {
    return `${resolved} does not exist`;
  }
  if (anchor === undefined) return undefined;
  if (!resolved.endsWith('.md')) return undefined;
  return anchorsOf(resolved).has(anchor.toLowerCase()) ? undefined : `${resolved} has no heading #${anchor}`;
}

/** What a reader cannot follow: this project's issue numbers, notes outside the repository, machines. */
const UNFOLLOWABLE: readonly [RegExp, string][] = [
  [/\bissues?\s+#?\d+/i, 'an issue number of this project'],
  [/\bdefects?\s+\d+/i, "an issue's defect number"],
  [/\bdesign\.md\b/i, 'design.md (not in the repository)'],
  [/\bstyle\.md\b/i, 'style.md (not in the repository)'],
  [/design brief/i, 'the design brief (not in the repository)'],
  [/\.\.\/shared\b|shared\/reference/i, 'notes outside the repository'],
  [/gitops-engines\.md|performance-reliability-security\.md/i, 'reference notes outside the repository'],
  [/\blast (session's )?machine\b|\bfirst machine\b|\blatest machine\b/i, 'a machine instead of a figure'],
];

function unfollowable(file: string): string[] {
  const found: string[] = [];
  readFileSync(join(root, file), 'utf8')
    .split('\n')
    .forEach((text, i) => {
      for (const [pattern, what] of UNFOLLOWABLE) {
        if (pattern.test(text)) found.push(`${file}:${i + 1}: ${what}: ${text.trim().slice(0, 120)}`);
      }
    });
  return found;
}

describe('documentation links', () => {
  const files = markdownFiles();

  it('finds the README and the docs pages', () => {
    expect(files).toContain('README.md');
    expect(files.length).toBeGreaterThan(1);
  });

  it('resolves every relative link in README.md and docs/**/*.md, anchors included', () => {
    const broken = files
      .flatMap(linksOf)
      .map((link) => [link, brokenReason(link)] as const)
      .filter(([, reason]) => reason !== undefined)
      .map(([link, reason]) => `${link.file}:${link.line}: (${link.target}) ${reason}`);
    expect(broken).toEqual([]);
  });

  it('mentions no issue numbers, notes outside the repository or machines', () => {
    expect(files.flatMap(unfollowable)).toEqual([]);
  });

  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Quick start')).toBe('quick-start');
    expect(githubSlug('GitHub: pull requests instead of direct pushes')).toBe(
      'github-pull-requests-instead-of-direct-pushes',
    );
    expect(githubSlug('`rewind rollback` and `-o json`')).toBe('rewind-rollback-and--o-json');
    expect(githubSlug('Replicas & leader_election (2)')).toBe('replicas--leader_election-2');
    expect(githubSlug('[Flux](flux.md) engine')).toBe('flux-engine');
  });
});

describe('source comments', () => {
  it('cite no notes outside the repository', () => {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(join(root, dir)).sort()) {
        const path = `${dir}/${name}`;
        if (statSync(join(root, path)).isDirectory()) walk(path);
        else if (/\.(ts|mjs|js|ya?ml)$/.test(name)) {
          readFileSync(join(root, path), 'utf8')
            .split('\n')
            .forEach((text, i) => {
              for (const [pattern, what] of UNFOLLOWABLE.slice(2, 7)) {
                if (pattern.test(text)) found.push(`${path}:${i + 1}: ${what}`);
              }
            });
        }
      }
    };
    for (const dir of ['src', 'workers', 'bench', 'bin', 'deploy']) walk(dir);
    expect(found).toEqual([]);
  });
});
