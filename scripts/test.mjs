#!/usr/bin/env node
// Runs every test under test/ with Node's built-in runner (through tsx), after preparing
// what the tests need from the machine (scripts/test-setup.mjs) and linting the tree (the
// import-boundary rule included). CI reads the summary.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : collect('test').sort();
if (existsSync('scripts/test-setup.mjs') && only.length === 0) {
  const setup = spawnSync(process.execPath, ['scripts/test-setup.mjs'], { stdio: 'inherit' });
  if (setup.status !== 0) process.exit(setup.status ?? 1);
}
if (only.length === 0) {
  // The import-boundary rule (eslint/layers.js) and the rest of the lint: a layer break fails the run.
  const lint = spawnSync(process.execPath, ['node_modules/eslint/bin/eslint.js', '.'], { stdio: 'inherit' });
  if (lint.status !== 0) {
    console.error('lint failed: see above (a layer break names the two planes and eslint/layers.js)');
    process.exit(lint.status ?? 1);
  }
}
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(res.status ?? 1);
