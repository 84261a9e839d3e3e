// Replicas that agree (issue 16 item 2), as real processes on the shared Redis: two sim engines
// and two `hmm ops` replicas. The derived state (tracker, shadow book, stages) is the leader's,
// published with its bus stream position; followers serve it; a replica that restarts takes it
// back from Redis, and a new leader restores it and replays the stream after its position. So:
//   - a follower killed during a burst and restarted answers /strategy/status exactly as the
//     leader does (shadow book, stages and the models' diagnostics included), and counts the
//     fills it was down for; its answer before the burst is not the final one;
//   - after a leader fail-over mid-burst the new leader's books hold every fill of the whole
//     burst, exactly once (a model's fees equal the engines' ledgers to the cent).
// Fields per-process by nature, excluded from the comparison: `ts` (when the answer was made).
// Nothing else is excluded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Child, freePort, http, spawnHmm, until, waitUp } from '../support/hmmProcess.js';
import { Scratch } from '../support/scratch.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'replicas-token-0123456789abcdef';
const prefix = `hmm-replicas-${randomBytes(4).toString('hex')}:`;
const admin = new Redis(REDIS_URL);
const scratch = new Scratch('replicas');
const { children } = scratch;
const url: Record<string, string> = {};
const roots: Record<string, string> = {};
const ports: Record<string, number> = {};
const ops: Record<string, Child> = {};
const engines: Child[] = [];
const MA = 'ma_crossover_v1';
/** The only field of /strategy/status that is per-process by nature. */
const PER_PROCESS_FIELDS = ['ts'] as const;

const common = { REDIS_URL, REDIS_BUS_PREFIX: prefix, OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '150', WARMUP_BARS: '60', LOG_LEVEL: 'info' };

function startOps(name: string): Child {
  const child = spawnHmm(name, ['ops'], {
    ...common, HMM_ROOT: roots[name]!, OPS_PORT: String(ports[name]), OPS_REPLICA_ID: name, HMM_LEADER_TTL_MS: '1500',
    HMM_ENGINES: `engine_eth=${url['engine_eth']},engine_btc=${url['engine_btc']}`,
  });
  ops[name] = child;
  children.push(child);
  return child;
}

before(async () => {
  for (const n of ['engine_eth', 'engine_btc', 'ops_a', 'ops_b']) {
    ports[n] = await freePort();
    url[n] = `http://127.0.0.1:${ports[n]}`;
    roots[n] = scratch.root(n);
  }
  for (const [name, sym] of [['engine_eth', 'ETHUSDT'], ['engine_btc', 'BTCUSDT']] as const) {
    const e = spawnHmm(name, ['engine', '--venue', 'sim', '--name', name], { ...common, HMM_ROOT: roots[name]!, ENGINE_PORT: String(ports[name]), TRADE_SYMBOLS: sym });
    engines.push(e);
    children.push(e);
  }
  await Promise.all(engines.map((e, i) => waitUp(e, `${url[i === 0 ? 'engine_eth' : 'engine_btc']}/health`)));
  startOps('ops_a');
  startOps('ops_b');
  await Promise.all(['ops_a', 'ops_b'].map((n) => waitUp(ops[n]!, `${url[n]}/health`, 60_000)));
});

after(async () => {
  await scratch.cleanup((l) => /OPS|ERROR|WARN/.test(l));
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
});

const alive = (n: string) => ops[n]!.proc.exitCode === null && ops[n]!.proc.signalCode === null;

async function leaderName(): Promise<string> {
  return until('exactly one leader', async () => {
    const views = await Promise.all(['ops_a', 'ops_b'].filter(alive).map(async (n) => (await http('GET', `${url[n]}/cluster`)).body as { replica: string; leader: boolean; daemons_running: boolean }));
    const leaders = views.filter((v) => v.leader && v.daemons_running);
    return leaders.length === 1 ? leaders[0]!.replica : null;
  }, 20_000);
}

let n = 0;
/** A burst of the live model's signals through the given replicas' APIs, buying and selling both symbols. */
async function burst(via: readonly string[], count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = await http('POST', `${url[via[i % via.length]!]}/strategy/signal`, { model: MA, symbol: i % 2 === 0 ? 'ETHUSDT' : 'BTCUSDT', side: (n++ >> 1) % 2 === 0 ? 'BUY' : 'SELL', quote_usd: 40 + (i % 5) * 7 }, TOKEN);
    assert.ok(r.status === 200 || r.status === 422, `signal ${i}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

type Status = Record<string, unknown> & { leaderboard: { model: string; trades: number; fees: number; source: string; bars_observed: number }[] };
const status = async (name: string) => (await http('GET', `${url[name]}/strategy/status`)).body as Status;
const comparable = (s: Status) => {
  const c: Record<string, unknown> = { ...s };
  for (const f of PER_PROCESS_FIELDS) delete c[f];
  return JSON.stringify(c);
};

/** The model's fees over every engine's ledger (what its book must add up to). */
async function engineFees(model: string): Promise<number> {
  let fees = 0;
  for (const e of ['engine_eth', 'engine_btc']) {
    const body = (await http('GET', `${url[e]}/models/positions`)).body as { positions?: { model: string; fees: string }[] } | { model: string; fees: string }[];
    const rows = Array.isArray(body) ? body : body.positions ?? [];
    for (const p of rows) if (p.model === model) fees += Number(p.fees);
  }
  return Math.round(fees * 100) / 100;
}

test('replicas agree: a restarted follower answers /strategy/status exactly as the leader, and a new leader holds the whole burst once', async () => {
  const first = await leaderName();
  const follower = first === 'ops_a' ? 'ops_b' : 'ops_a';
  await burst([first, follower], 10);
  const before = await status(follower);

  // A follower down during part of the burst (SIGKILL: no goodbye) and started again on its root.
  ops[follower]!.signal('SIGKILL');
  await ops[follower]!.exited;
  await burst([first], 16);
  startOps(follower);
  await waitUp(ops[follower]!, `${url[follower]}/health`, 60_000);
  await burst([first, follower], 10);

  // The market pauses (both engines SIGSTOPped: no bar, no fill) so the stream goes quiet, and
  // both replicas must then give the same answer.
  await new Promise((r) => setTimeout(r, 1_000));
  for (const e of engines) e.signal('SIGSTOP');
  try {
    const [a, b] = await until('both replicas at the same state', async () => {
      const [x, y] = await Promise.all([status(first), status(follower)]);
      return comparable(x) === comparable(y) ? ([x, y] as const) : null;
    }, 20_000, 250).catch(async (err: Error) => {
      const [x, y] = await Promise.all([status(first), status(follower)]);
      throw new Error(`${err.message}\n${first}: ${comparable(x).slice(0, 2000)}\n${follower}: ${comparable(y).slice(0, 2000)}`);
    });
    assert.deepEqual({ ...a, ts: null }, { ...b, ts: null });
    // The agreed state is the whole history, not an empty or a stale one.
    const ma = a.leaderboard.find((r) => r.model === MA)!;
    assert.ok(ma.trades >= 36, `${MA} booked ${ma.trades} fills for 36 routed signals`);
    assert.ok(ma.bars_observed > 0);
    assert.notEqual(comparable(before), comparable(b), 'the follower\'s answer before the burst is not the final one');
    assert.ok(before.leaderboard.find((r) => r.model === MA)!.trades < ma.trades);
  } finally {
    for (const e of engines) e.signal('SIGCONT');
  }

  // The leader dies mid-burst; the follower takes over from the last snapshot and the stream
  // after it, and the burst goes on through it.
  ops[first]!.signal('SIGKILL');
  await ops[first]!.exited;
  const second = await leaderName();
  assert.equal(second, follower);
  await burst([second], 10);
  assert.match(ops[second]!.output(), /derived state taken over: the last leader's snapshot \(seq \d+, ops_[ab]\) \+ \d+ events replayed/);

  // Trading stops (no fill after this); the new leader's book of the model adds up to the
  // engines' ledgers to the cent: every fill of the whole burst, before and after the fail-over
  // and while the follower was down, booked exactly once.
  const kill = await http('POST', `${url[second]}/kill`, { enabled: false, reason: 'replicas test: freeze the books' }, TOKEN);
  assert.equal(kill.status, 200, JSON.stringify(kill.body));
  await new Promise((r) => setTimeout(r, 1_000));
  const fees = await engineFees(MA);
  const ma = await until(`${MA}'s fees on the new leader = the engines' ${fees}`, async () => {
    const row = (await status(second)).leaderboard.find((r) => r.model === MA)!;
    return row.fees === fees ? row : null;
  }, 10_000, 250).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify((await status(second)).leaderboard.find((r) => r.model === MA))}`);
  });
  assert.ok(ma.trades >= 46, `${MA} booked ${ma.trades} fills for 46 routed signals`);
});
