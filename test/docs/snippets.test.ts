// Every TypeScript and JavaScript block of the README and the guides compiles, as an app's code, against the built
// package (dist/, resolved through package.json exports like a consumer's import) with skipLibCheck false.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerCompilerOptions } from '../external/helpers/consumer.js';
import { type CodeBlock, codeBlocks, markdownFiles, repoRoot } from './markdown.js';

const typescript = new Set(['ts', 'typescript']);
const javascript = new Set(['js', 'javascript']);

/** Blocks to compile: every ts/js block not marked as a fragment, each written to its own module. */
const blocks = markdownFiles()
  .flatMap(codeBlocks)
  .filter((block) => !block.fragment && (typescript.has(block.language) || javascript.has(block.language)));

let dir: string;
const fileOf = new Map<string, CodeBlock>();

beforeAll(() => {
  if (!existsSync(join(repoRoot, 'dist/index.d.ts'))) throw new Error('dist/ is missing: run npm run build first (npm test does).');
  // Inside the package, so `import 'express-mcp-sse'` resolves to dist/ through package.json exports (its `types`),
  // and the package's "type": "module" makes every block an ES module, as in an ESM app.
  dir = mkdtempSync(join(repoRoot, '.vitest-snippets-'));
  for (const block of blocks) {
    const name = `${block.file.replace(/[^\w]+/g, '_')}_${block.line}.${typescript.has(block.language) ? 'ts' : 'js'}`;
    writeFileSync(join(dir, name), block.code);
    fileOf.set(join(dir, name), block);
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Type-checks the blocks written with `extension` as one program and fails with every diagnostic, at its Markdown line. */
function compile(extension: string, compilerOptions: object): ts.Program {
  const { options, errors } = ts.convertCompilerOptionsFromJson(compilerOptions, dir);
  expect(errors).toEqual([]);
  const files = [...fileOf.keys()].filter((file) => file.endsWith(extension));
  expect(files.length).toBeGreaterThan(0);
  const program = ts.createProgram(files, options);
  const diagnostics = ts.getPreEmitDiagnostics(program).map(describeDiagnostic);
  expect(diagnostics, diagnostics.join('\n')).toEqual([]);
  return program;
}

/** One diagnostic as `README.md:123: TS2345 message`, at its line in the Markdown file. */
function describeDiagnostic(diagnostic: ts.Diagnostic): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
  const file = diagnostic.file;
  const block = file && fileOf.get(file.fileName);
  if (!file || !block || diagnostic.start === undefined) return `${file?.fileName ?? '(program)'}: TS${diagnostic.code} ${message}`;
  const { line } = file.getLineAndCharacterOfPosition(diagnostic.start);
  return `${block.file}:${block.line + line}: TS${diagnostic.code} ${message}`;
}

describe('code blocks of the documentation', () => {
  it('finds the blocks: the README server, client and recipes, and the guides', () => {
    const readme = blocks.filter((block) => block.file === 'README.md');
    expect(readme.length).toBeGreaterThanOrEqual(6);
    expect(readme.some((block) => block.code.includes('const app = express()') && block.code.includes('buildMcpServer'))).toBe(true);
    expect(new Set(blocks.map((block) => block.file)).size).toBeGreaterThan(3);
  });

  // Checking every declaration (skipLibCheck false) of the SDK, zod and Express takes tens of seconds on a busy machine.
  it('TypeScript blocks compile against the built package, skipLibCheck false, as one program', { timeout: 180_000 }, () => {
    const program = compile('.ts', consumerCompilerOptions);
    // The package resolved to what consumers get, not to the sources.
    const resolvedFiles = program.getSourceFiles().map((file) => file.fileName);
    expect(resolvedFiles).toContain(join(repoRoot, 'dist/index.d.ts'));
    expect(resolvedFiles.filter((file) => file.startsWith(join(repoRoot, 'lib')))).toEqual([]);
  });

  // JavaScript is checked as an editor checks a `// @ts-check` file: calls, imports and property names against the
  // package's declarations (already checked above with skipLibCheck false), without demanding annotations.
  it('JavaScript blocks type-check against the built package', { timeout: 180_000 }, () => {
    compile('.js', { module: 'nodenext', target: 'esnext', types: ['node'], noEmit: true, allowJs: true, checkJs: true, skipLibCheck: true });
  });
});
