// The README a visitor reads in five minutes, and documentation whose every link, anchor and image leads somewhere.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokenLink, links, markdownFiles, repoRoot } from './markdown.js';

/** The README's budget: the pitch, install, one server and client, options, recipes and errors; guides for the rest. */
const README_MAX_BYTES = 25_000;

describe('the documentation', () => {
  it(`keeps README.md within ${README_MAX_BYTES} bytes`, () => {
    const { size } = statSync(join(repoRoot, 'README.md'));
    expect(size, `README.md is ${size} bytes`).toBeLessThanOrEqual(README_MAX_BYTES);
  });

  it('has the guides the README links to, and links every guide from the README', () => {
    const files = markdownFiles();
    const readmeTargets = links('README.md').map((link) => link.target.split('#')[0]);
    for (const guide of files.filter((file) => file.startsWith('docs/'))) expect(readmeTargets, guide).toContain(guide);
    for (const required of ['CONTRIBUTING.md', 'example-app/README.md']) expect(files).toContain(required);
  });

  it('links only to files and headings that exist, and shows images from the repository by relative path', () => {
    const all = markdownFiles().flatMap(links);
    expect(all.length).toBeGreaterThan(20);
    expect(all.filter((link) => link.image).length).toBeGreaterThan(0);
    const broken = all.flatMap((link) => {
      const problem = brokenLink(link);
      return problem === undefined ? [] : [`${link.file}:${link.line}: ${link.target}: ${problem}`];
    });
    expect(broken, broken.join('\n')).toEqual([]);
  });
});
