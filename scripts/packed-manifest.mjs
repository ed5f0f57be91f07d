// scripts/packed-manifest.mjs: keeps the `prepare` script out of the published package.json.
// `prepare` builds dist/ for a git install (`npm install github:…` runs it when the app allows it), but npm 11 warns
// about any package whose manifest carries one when it comes from a tarball: `prepack` strips it from package.json
// (after the build) so `npm pack`/`npm publish` ship a manifest without it, and `postpack` puts the file back as it was.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const manifest = fileURLToPath(new URL('../package.json', import.meta.url));
const backup = `${manifest}.before-pack`;
const mode = process.argv[2];

if (mode === 'strip') {
  // A pack that failed before `postpack` left the stripped file behind: start again from the original.
  if (existsSync(backup)) renameSync(backup, manifest);
  const text = readFileSync(manifest, 'utf8');
  const pkg = JSON.parse(text);
  writeFileSync(backup, text);
  delete pkg.scripts.prepare;
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else if (mode === 'restore') {
  if (existsSync(backup)) renameSync(backup, manifest);
} else {
  console.error('usage: node scripts/packed-manifest.mjs strip|restore');
  process.exit(2);
}
