// Throwaway consumer projects outside the repo: the `npm pack` tarball installed by npm next to what an app installs.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repoRoot = resolve(import.meta.dirname, '../../..');
export const fixtures = resolve(import.meta.dirname, '../fixtures');
const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');

/** The child npm must not inherit the `npm_*` settings of an `npm test` that started this run. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
}

/** A scratch folder under the OS temp dir, so nothing resolves through this repo's node_modules. */
export function scratchDir(): { dir: string; remove: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'express-mcp-sse-consumers-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface PackedFile {
  path: string;
  size: number;
}

/**
 * Packs the package as `npm publish` would (dist/ is already built by `npm test`, so the build of `prepack` is
 * skipped), with the manifest `prepack` publishes, returning the tarball and its file list.
 */
export async function pack(destination: string): Promise<{ tarball: string; files: PackedFile[] }> {
  const manifest = join(repoRoot, 'scripts/packed-manifest.mjs');
  await run(process.execPath, [manifest, 'strip']);
  try {
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destination], { cwd: repoRoot, env: npmEnv() });
    const [result] = JSON.parse(stdout) as [{ filename: string; files: PackedFile[] }];
    return { tarball: join(destination, result.filename), files: result.files };
  } finally {
    await run(process.execPath, [manifest, 'restore']);
  }
}

/** The package.json inside a tarball, as consumers' npm reads it. */
export async function packedManifest(tarball: string): Promise<{ scripts?: Record<string, string> }> {
  const { stdout } = await run('tar', ['-xOzf', tarball, 'package/package.json']);
  return JSON.parse(stdout) as { scripts?: Record<string, string> };
}

export interface Consumer {
  dir: string;
  /** Runs a copied fixture with Node and returns its trimmed stdout. */
  node(file: string): Promise<string>;
  /** The project's TypeScript diagnostics, one string per diagnostic (continuation lines included). */
  diagnostics: string[];
}

export interface ConsumerSpec {
  /** Folder name under the scratch dir. */
  name: string;
  /** What the app itself depends on besides the tarball, as npm install arguments (`express@^5`). */
  dependencies: string[];
  /** Fixture files copied into the project. */
  files: string[];
  /** Fixture files type-checked together, as one program. */
  typecheck: string[];
}

/**
 * An ESM app folder (`"type": "module"`) with the tarball and `dependencies` installed by npm, then type-checked.
 * `--prefer-offline` uses npm's cache when it has a package, so after the first run an install takes seconds.
 */
export async function createConsumer(root: string, tarball: string, spec: ConsumerSpec): Promise<Consumer> {
  const dir = join(root, spec.name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${spec.name}`, private: true, type: 'module' }, null, 2));
  for (const file of spec.files) copyFileSync(join(fixtures, file), join(dir, file));
  const install = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];
  await run('npm', [...install, tarball, ...spec.dependencies], { cwd: dir, env: npmEnv() });
  return { dir, node: (file) => runNode(dir, file), diagnostics: await typecheck(dir, spec.typecheck) };
}

async function runNode(dir: string, file: string): Promise<string> {
  return (await run(process.execPath, [file], { cwd: dir, timeout: 20_000 })).stdout.trim();
}

/** Runs the repo's TypeScript on the project: module resolution starts from the project, as for its own compiler. */
async function typecheck(dir: string, files: string[]): Promise<string[]> {
  if (files.length === 0) return [];
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: consumerCompilerOptions, files }, null, 2));
  let output: string;
  try {
    output = (await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir })).stdout;
  } catch (error) {
    const { stdout } = error as { stdout?: string };
    if (!stdout) throw error;
    output = stdout;
  }
  const diagnostics = output.split(/\n(?=\S)/).map((diagnostic) => diagnostic.trim());
  return diagnostics.filter((diagnostic) => diagnostic !== '');
}

/**
 * What `tsc --init` (TypeScript 5.9) writes, minus emit settings, and with `skipLibCheck: false` so every
 * published declaration file is checked the way a careful team's build checks it.
 */
export const consumerCompilerOptions = {
  module: 'nodenext',
  target: 'esnext',
  types: ['node'],
  noEmit: true,
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  noUncheckedSideEffectImports: true,
  moduleDetection: 'force',
  skipLibCheck: false,
};
