// The stack's one clock: startStack({ clock }) runs the same wiring on a SimClock, so the
// composition root's timers (the exposure collector here) fire when that clock is advanced
// and never on the host's time, and what the stack stamps (start, last bar) is the clock's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';
import { SimClock } from '../../src/core/clock.js';

const T0 = Date.UTC(2031, 0, 1, 12, 0, 0);
// One step of bars at start, then none for an hour of wall time: nothing but the clock moves.
const env = (root: string) => ({ HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: 'test-token-0123456789abcdef', MARKET_INTERVAL_MS: '3600000', WARMUP_BARS: '100' });
let tmp: string;
let stack: Stack;
const clock = new SimClock(T0);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'hmm-clock-'));
  stack = await startStack({ env: env(tmp), stdout: false, clock });
});
after(async () => {
  await stack?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the stack stamps its start and its bars with the clock it was given', async () => {
  const status = await (await fetch(`${stack.opsUrl}/status`)).json() as { state: { started_at: string; last_bar_at: string | null } };
  assert.equal(status.state.started_at, new Date(T0).toISOString());
  assert.equal(status.state.last_bar_at, new Date(T0).toISOString());
});

test('the exposure collector runs on the stack clock: not on host time, every 2 s of clock time', async () => {
  const file = join(tmp, 'ops/aggregate_exposure.json');
  assert.ok(existsSync(file), 'written once at start');
  unlinkSync(file);
  // Counterpart: 2.5 s of host time with the clock standing still collects nothing.
  await sleep(2500);
  assert.equal(existsSync(file), false, 'no collection while the stack clock stands still');
  clock.advanceBy(2000);
  for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(20);
  assert.ok(existsSync(file), 'collected once the clock moved 2 s');
});
