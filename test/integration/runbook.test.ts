// docs/OPS_RUNBOOK.md, executed: the test reads the document itself (never a hand-copied list),
// takes every shell block in order and runs it with bash from a fresh stack's root while the
// stack runs (started as `npm start` starts it, in a child process), as an operator pastes it.
// A block fails on a non-zero exit under `set -eo pipefail`, an `"error"` in a JSON answer, a
// bare `null` (a jq path that does not exist), or a shell error on stderr. Only a block marked
// `<!-- runbook-test: external: why -->` just above its fence is skipped, and the reason is
// printed. What the test changes, it prints: the documented ports map to the test stack's, a
// `watch` runs its command once, `tail -f` reads what is there, `npm start` goes to the
// background until the stack is ready.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/freePort.js';
import { processAlive, readLock } from '../../src/ops/stackLock.js';

const repo = join(import.meta.dirname, '../..');
const DOC = join(repo, 'docs/OPS_RUNBOOK.md');
const SHELL = new Set(['bash', 'sh', 'shell', 'console']);
const BLOCK_TIMEOUT_MS = 60_000;

export interface RunbookBlock {
  readonly line: number;
  readonly lang: string;
  readonly heading: string;
  readonly body: string;
  /** Set when the block is marked as needing a service the test cannot start. */
  readonly external: string | null;
}

/** Every fenced block of the document, with the heading it sits under and its marker. */
export function runbookBlocks(md: string): RunbookBlock[] {
  const lines = md.split('\n');
  const out: RunbookBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{1,6}\s+(.*)$/.exec(lines[i]!);
    if (h) heading = h[1]!;
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) body.push(lines[j++]!.slice(indent));
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const mark = k >= 0 ? /<!--\s*runbook-test:\s*external:\s*(.+?)\s*-->/.exec(lines[k]!) : null;
    out.push({ line: i + 1, lang: open[2]!, heading, body: body.join('\n'), external: mark ? mark[1]! : null });
    i = j;
  }
  return out;
}

let root = '';
let stack: ChildProcess | null = null;
const started: number[] = [];
let redisPrefix = '';

after(async () => {
  // Stop what this test started, by pid: the first stack, a stack a block started with
  // `npm start` (the pid in the root's lock), and that npm.
  const pids = new Set(started);
  const lock = root ? readLock(root) : null;
  if (lock && lock.pid !== process.pid) pids.add(lock.pid);
  const npmPid = root && existsSync(join(root, '.runbook-npm.pid')) ? Number(readFileSync(join(root, '.runbook-npm.pid'), 'utf8')) : NaN;
  if (Number.isInteger(npmPid)) pids.add(npmPid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch { /* already gone */ }
  }
  const end = Date.now() + 15_000;
  while ([...pids].some((p) => processAlive(p)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) {
    if (processAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
  }
  if (redisPrefix) spawnSync('sh', ['-c', `redis-cli --scan --pattern '${redisPrefix}*' | xargs -r redis-cli del > /dev/null`]);
  if (root) rmSync(root, { recursive: true, force: true });
});

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('every shell block of docs/OPS_RUNBOOK.md runs as written against a started stack (or is marked external, with the reason)', { timeout: 240_000 }, async () => {
  const blocks = runbookBlocks(readFileSync(DOC, 'utf8'));
  const shell = blocks.filter((b) => SHELL.has(b.lang));
  assert.ok(shell.length >= 10, `found ${shell.length} shell blocks in ${DOC}`);

  // A fresh root that is also a checkout, as where `npm start` runs: the code is linked in.
  root = mkdtempSync(join(tmpdir(), 'hmm-runbook-doc-'));
  for (const f of ['bin', 'src', 'node_modules', 'package.json', 'tsconfig.json']) symlinkSync(join(repo, f), join(root, f));
  const shim = join(root, '.bin');
  mkdirSync(shim);
  writeFileSync(join(shim, 'hmm'), `#!/bin/sh\nexec "${process.execPath}" "${join(repo, 'bin/hmm.mjs')}" "$@"\n`);
  chmodSync(join(shim, 'hmm'), 0o755);
  const [opsPort, enginePort] = [await freePort(), await freePort()];
  redisPrefix = `hmm-runbook-${process.pid}-${Date.now()}:`;
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${shim}:${process.env.PATH}`, OPS_PORT: String(opsPort), ENGINE_PORT: String(enginePort), MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100', REDIS_BUS_PREFIX: redisPrefix };
  // What an operator's fresh shell has not: the stack is found by its lock file, the token read from .ops_token.
  for (const k of ['OPS_API_TOKEN', 'OPS_URL', 'HMM_ROOT', 'REDIS_URL', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT']) delete env[k];

  const log = openSync(join(root, '.runbook-stack.log'), 'a');
  stack = spawn(process.execPath, [join(repo, 'bin/hmm.mjs'), 'up'], { cwd: root, env, stdio: ['ignore', log, log] });
  started.push(stack.pid!);
  const ops = `http://127.0.0.1:${opsPort}`;
  await waitFor('the stack to be ready', async () => (await fetch(`${ops}/readyz`).then((r) => r.ok, () => false)), 30_000);
  // The log blocks grep the order log for routing_time: wait until the stack has traded.
  await waitFor('a routed order', () => existsSync(join(root, 'engine/logs/orders.jsonl')) && readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8').includes('routing_time'), 20_000);

  const ready = `for i in $(seq 300); do curl -sf ${ops}/readyz > /dev/null && break; sleep 0.1; done; curl -sf ${ops}/readyz > /dev/null`;
  const changes: string[] = [];
  const ports = (l: string) => l.replace(/(localhost|127\.0\.0\.1):8002\b/g, `127.0.0.1:${opsPort}`).replace(/(localhost|127\.0\.0\.1):8101\b/g, `127.0.0.1:${enginePort}`);
  const adapt = (body: string): string => body.split('\n').map((l) => {
    const mapped = ports(l);
    let x = mapped.replace(/^(\s*)watch\s+(?:-n\s*\S+\s+)?/, '$1sh -c ').replace(/\btail -f\b/g, 'tail');
    if (/^\s*(npm start|hmm up)\b/.test(x)) x = `nohup npm start > .runbook-npm-start.log 2>&1 & echo $! > .runbook-npm.pid; ${ready}`;
    if (x !== mapped) changes.push(`  ${l.trim()}  →  ${x.trim().slice(0, 90)}`);
    return x;
  }).join('\n');

  const runBlock = (body: string): { problems: string[]; stdout: string; stderr: string; ms: number } => {
    const t0 = Date.now();
    const r = spawnSync('bash', ['-c', `set -eo pipefail\n${adapt(body)}\n`], { cwd: root, env, encoding: 'utf8', timeout: BLOCK_TIMEOUT_MS });
    const problems: string[] = [];
    if (r.error) problems.push(`did not finish: ${r.error.message}`);
    else if (r.status !== 0) problems.push(`exit ${r.status}`);
    if (/"error"\s*:/.test(r.stdout)) problems.push('a JSON answer with "error"');
    if (r.stdout.split('\n').some((l) => l.trim() === 'null')) problems.push('a bare null (a jq path that is not there?)');
    if (/command not found|No such file|parse error|Permission denied|cannot reach|^hmm: /m.test(r.stderr)) problems.push('a shell error on stderr');
    return { problems, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
  };

  let run = 0;
  const skipped: string[] = [];
  const failures: string[] = [];
  for (const b of blocks) {
    if (!SHELL.has(b.lang)) continue;
    if (b.external !== null) {
      skipped.push(`  line ${b.line} (${b.heading}): external: ${b.external}`);
      continue;
    }
    run++;
    const r = runBlock(b.body);
    const summary = `line ${b.line} (${b.heading}): ${r.problems.length ? `FAILED — ${r.problems.join(', ')}` : 'ok'} in ${r.ms} ms`;
    console.log(summary);
    if (r.problems.length) failures.push(`${summary}\n--- block ---\n${b.body}\n--- stdout ---\n${r.stdout.slice(0, 1500)}\n--- stderr ---\n${r.stderr.slice(0, 1500)}`);
  }

  // The counterparts: the seed runbook's lines that failed as written must fail these checks
  // (else a block passing above would prove nothing).
  const seedFailures: [string, string][] = [
    ['tail -f ops/capital_allocations.json | jq \'.capital_quota_usd\'', 'exit'],
    ['curl -s -X POST http://localhost:8002/strategy/weights -H "X-OPS-TOKEN: ${OPS_API_TOKEN}" -H "Content-Type: application/json" -d \'{"weights": {"ma_crossover_v1": 0.1}}\'', '"error"'],
    ['curl -s http://localhost:8002/aggregate/metrics | jq \'.venues.engine_binance\'', 'null'],
    ['python ops/export_pnl.py', 'exit'],
  ];
  for (const [line, why] of seedFailures) {
    const r = runBlock(line);
    assert.ok(r.problems.some((p) => p.includes(why)), `the seed's \`${line}\` should fail with ${why}: ${JSON.stringify(r.problems)} ${r.stdout.slice(0, 300)}`);
  }

  const other = blocks.filter((b) => !SHELL.has(b.lang)).map((b) => `${b.lang || 'plain'} (line ${b.line})`);
  console.log(`runbook: ${run} shell blocks run, ${skipped.length} skipped as external, ${other.length} not shell (${other.join(', ')})`);
  for (const s of skipped) console.log(s);
  console.log(`ports mapped: 8002 → ${opsPort}, 8101 → ${enginePort}${changes.length ? `; bounded forms:\n${changes.join('\n')}` : ''}`);
  assert.deepEqual(failures, [], failures.join('\n\n'));
  assert.ok(run >= 10, `${run} blocks run`);
});
