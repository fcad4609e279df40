/**
 * The repository stands alone: every relative link in README.md and docs/ resolves to a file
 * inside it (and to a heading, when it names one), and no tracked file points outside it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pages = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's heading anchors: lowercased, punctuation dropped, spaces to '-'. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[`*_]/g, '').replace(/[^\p{L}\p{N} -]/gu, '').replace(/ /g, '-'));
  }
  return out;
}

/** Links outside fenced code: [text](target). */
function links(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

t.test('every relative link in README.md and docs/ resolves inside the repository', async (t) => {
  let checked = 0;
  for (const page of pages) {
    const text = readFileSync(path.join(ROOT, page), 'utf8');
    for (const link of links(text)) {
      if (/^[a-z]+:/i.test(link)) continue; // https:, mailto: — not a file of ours
      const [file = '', anchor] = link.split('#');
      const target = file === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), file);
      checked++;
      t.ok(target.startsWith(ROOT), `${page}: ${link} stays inside the repository`);
      t.ok(existsSync(target), `${page}: ${link} names a file that exists`);
      if (anchor && target.endsWith('.md') && existsSync(target)) {
        t.ok(anchors(readFileSync(target, 'utf8')).has(anchor), `${page}: ${link} names a heading of ${path.relative(ROOT, target)}`);
      }
    }
  }
  t.ok(checked > 20, `checked ${checked} links`);
});

t.test('no tracked file refers to a path outside the repository', async (t) => {
  const files = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  const outside = /\.\.\/shared\/|DESIGN\.md/;
  const offenders = files.filter((f) => f !== 'test/docs/links.test.ts' && existsSync(path.join(ROOT, f)) && outside.test(readFileSync(path.join(ROOT, f), 'utf8')));
  t.same(offenders, [], 'files citing something outside the repository');
});
