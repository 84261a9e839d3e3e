#!/usr/bin/env node
// Installs what the test suite needs from the machine and is not an npm dependency:
// Prometheus + promtool (observability tests run the real tools), Chromium (the browser
// test drives the dashboard) and docker-compose v1 (the compose files are checked with
// `config -q`; there is no Docker engine here to run them). Debian packages via apt-get, only when missing, so a machine
// that has them pays a few stat() calls. scripts/test.mjs runs this before `npm test`.
// Exit codes: 0 ready, 1 an install failed (the message says which package and why).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';

/** A tool is present if an executable of that name is on PATH (or at the absolute path given). */
function present(tool) {
  if (tool.startsWith('/')) return existsSync(tool);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, tool)));
}

// package → the files whose absence means the package is needed
const NEEDS = [
  { pkg: 'prometheus', tools: ['prometheus', 'promtool'], why: 'test/integration/observability*.test.ts run promtool and a real Prometheus' },
  { pkg: 'chromium', tools: ['/usr/bin/chromium'], why: 'test/browser/*.test.ts drive the dashboard in headless Chromium' },
  { pkg: 'docker-compose', tools: ['docker-compose'], why: 'test/unit/deployFiles.test.ts checks both compose files with `docker-compose config -q`' },
];

const missing = NEEDS.filter((n) => n.tools.some((t) => !present(t)));
if (missing.length === 0) process.exit(0);

const say = (msg) => process.stderr.write(`[test-setup] ${msg}\n`);
if (!present('apt-get')) {
  for (const m of missing) say(`ERROR: ${m.tools.join(', ')} missing and apt-get is not available; install the Debian package "${m.pkg}" by hand (${m.why})`);
  process.exit(1);
}
const asRoot = typeof process.getuid !== 'function' || process.getuid() === 0;
const prefix = asRoot ? [] : present('sudo') ? ['sudo', '-n'] : null;
if (prefix === null) {
  say(`ERROR: need root to install ${missing.map((m) => m.pkg).join(' ')} (not root and no sudo); run: apt-get install -y ${missing.map((m) => m.pkg).join(' ')}`);
  process.exit(1);
}

function run(args, label) {
  const [cmd, ...rest] = [...prefix, ...args];
  say(`${label}: ${[cmd, ...rest].join(' ')}`);
  const r = spawnSync(cmd, rest, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error) return `${r.error.message}`;
  return r.status === 0 ? null : `exit code ${r.status}`;
}

// Package lists go stale on long-lived machines (an old candidate 404s); refresh once first.
const upd = run(['apt-get', 'update', '-qq'], 'refreshing package lists');
if (upd) say(`WARN: apt-get update failed (${upd}); trying the install with the lists there are`);
const pkgs = missing.map((m) => m.pkg);
const err = run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], `installing ${pkgs.join(' ')}`);
if (err) {
  say(`ERROR: apt-get install ${pkgs.join(' ')} failed (${err})`);
  for (const m of missing) say(`  ${m.pkg}: ${m.why}`);
  process.exit(1);
}
const still = missing.flatMap((m) => m.tools.filter((t) => !present(t)).map((t) => `${t} (package ${m.pkg})`));
if (still.length > 0) {
  say(`ERROR: installed but still missing: ${still.join(', ')}`);
  process.exit(1);
}
say(`ready: ${pkgs.join(', ')} installed`);
