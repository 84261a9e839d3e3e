// Child processes for the distributed-deployment tests: `node bin/hmm.mjs engine|ops …` and a
// throw-away redis-server, on ports found by binding port 0, each killed by its own pid. Output
// is kept so a failing test can show what the process said.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './freePort.js';
export { freePort };
import { join } from 'node:path';
import { HMM_NODE_FLAGS } from '../../src/app/nodeFlags.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO = join(import.meta.dirname, '../..');


export interface Child {
  readonly label: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  readonly exited: Promise<number | null>;
  /** Sends a signal to this child (by its pid) if it still runs. */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnChild(label: string, command: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd = REPO): Child {
  const proc = spawn(command, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => { done = true; });
  const signal = (sig: NodeJS.Signals) => {
    if (done || proc.pid === undefined) return;
    try {
      process.kill(proc.pid, sig);
    } catch { /* already gone */ }
  };
  return {
    label, proc, pid: proc.pid ?? -1, exited, signal,
    output: () => out,
    async stop(graceMs = 5_000) {
      if (done) return;
      signal('SIGCONT');
      signal('SIGTERM');
      const t = setTimeout(() => signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** `node <shipped V8 flags> bin/hmm.mjs <args>` with exactly `env` (plus PATH/HOME). */
export function spawnHmm(label: string, args: readonly string[], env: Readonly<Record<string, string>>): Child {
  return spawnChild(label, process.execPath, [...HMM_NODE_FLAGS, join(REPO, 'bin/hmm.mjs'), ...args], env);
}

/** A redis-server on `port` with no persistence (a Redis the test may kill and restart). */
export function spawnRedis(port: number): Child {
  return spawnChild(`redis:${port}`, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, '/tmp');
}

export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 10_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await sleep(every);
  }
}

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export async function http(method: string, url: string, body?: unknown, token?: string): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { 'x-ops-token': token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

/** Waits until GET url answers 200 while the child lives; a child that dies first fails with its output. */
export async function waitUp(child: Child, url: string, ms = 30_000): Promise<void> {
  let exited: number | null | undefined;
  void child.exited.then((c) => { exited = c; });
  await until(`${child.label} at ${url}`, async () => {
    if (exited !== undefined) throw new Error(`${child.label} exited (${exited}) before answering:\n${child.output().slice(-3000)}`);
    const r = await fetch(url, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
    return r !== null && r.ok;
  }, ms, 100).catch((err: Error) => {
    throw new Error(`${err.message}\n--- ${child.label} output ---\n${child.output().slice(-3000)}`);
  });
}
