// Reading the project's Markdown as a visitor's tools read it: its code blocks, its headings' anchors and its links.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../..');

/** The Markdown a visitor reads: README.md, CONTRIBUTING.md, the guides in docs/ and the example apps' READMEs. */
export function markdownFiles(): string[] {
  const docs = readdirSync(join(repoRoot, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .map((file) => join('docs', file));
  const others = ['README.md', 'CONTRIBUTING.md', 'example-app/README.md', 'examples/typescript/README.md'];
  return [...others.filter((file) => existsSync(join(repoRoot, file))), ...docs.sort()];
}

/** The marker, on the line before a fence, of a block that is deliberately not a whole program. */
export const FRAGMENT_MARKER = '<!-- fragment -->';

export interface CodeBlock {
  /** Markdown file, relative to the repo root. */
  file: string;
  /** 1-based line of the block's first code line in that file. */
  line: number;
  language: string;
  code: string;
  fragment: boolean;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;

/** Every fenced block of `file`, code de-indented by its fence's indentation (blocks inside list items). */
export function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent = '', fence = '', language = ''] = open;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.trim().startsWith(fence)) end++;
    const previous = lines
      .slice(0, i)
      .reverse()
      .find((line) => line.trim() !== '');
    blocks.push({
      file,
      line: start + 1,
      language: language.toLowerCase(),
      code: lines
        .slice(start, end)
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join('\n'),
      fragment: previous?.trim() === FRAGMENT_MARKER,
    });
    i = end;
  }
  return blocks;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens (as github-slugger does). */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a Markdown file's headings, numbered as GitHub numbers repeated ones (`-1`, `-2`). */
export function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  let inFence = false;
  for (const line of readFileSync(join(repoRoot, file), 'utf8').split('\n')) {
    if (FENCE.test(line)) inFence = !inFence;
    const heading = !inFence && /^#{1,6} (.+)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

export interface Link {
  file: string;
  line: number;
  target: string;
  image: boolean;
}

/** Inline links and images outside code: `[text](target)` and `![alt](target)`. */
export function links(file: string): Link[] {
  const result: Link[] = [];
  let inFence = false;
  readFileSync(join(repoRoot, file), 'utf8')
    .split('\n')
    .forEach((text, index) => {
      if (FENCE.test(text)) inFence = !inFence;
      if (inFence) return;
      const prose = text.replace(/`[^`]*`/g, '');
      for (const match of prose.matchAll(/(!?)\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        result.push({ file, line: index + 1, target: match[2]!, image: match[1] === '!' });
      }
    });
  return result;
}

/** What is wrong with a link, or undefined: a missing file, a missing anchor, or an image that is not in the repo. */
export function brokenLink(link: Link): string | undefined {
  if (/^(https?:|mailto:)/.test(link.target)) return link.image ? 'images must be files in the repo, by relative path' : undefined;
  const [path = '', anchor] = link.target.split('#');
  const target = path === '' ? join(repoRoot, link.file) : resolve(repoRoot, link.file, '..', decodeURIComponent(path));
  if (!existsSync(target)) return `${relative(repoRoot, target)} does not exist`;
  if (anchor === undefined) return undefined;
  if (!target.endsWith('.md')) return `#${anchor} points into a file that is not Markdown`;
  return anchors(relative(repoRoot, target)).has(anchor) ? undefined : `${relative(repoRoot, target)} has no heading for #${anchor}`;
}
