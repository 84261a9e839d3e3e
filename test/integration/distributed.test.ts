// The distributed parts wired in one test process on the real Redis (a fresh key prefix): an
// engine (`startEngineProcess`, what `hmm engine` runs) and two ops replicas (`startOpsProcess`,
// what `hmm ops` runs), each with its own root, meeting only over HTTP and Redis. Checks what
// crosses processes: the runbook's governance drill published straight onto Redis by the CLI,
// the leader's exposure multiplier reaching the follower, an engine that starts while the
// cluster is paused, and the CLI's refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startEngineProcess, type EngineProcess } from '../../src/app/engineProcess.js';
import { startOpsProcess, type OpsProcess } from '../../src/app/opsProcess.js';
import { signalOrderId } from '../../src/core/orderIds.js';
import { modelId, symbol } from '../../src/core/ids.js';
import { http, spawnHmm, until } from '../support/hmmProcess.js';
import { Scratch } from '../support/scratch.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'distributed-token-0123456789abcdef';
const prefix = `hmm-dist-${randomBytes(4).toString('hex')}:`;
const admin = new Redis(REDIS_URL);
const scratch = new Scratch('dist');
const root = (label: string) => scratch.root(label);
// A long lease: the replicas share this process's event loop, and the fail-over itself is the
// cluster test's subject; here a busy machine must not move the leadership mid-drill.
const common = { REDIS_URL, REDIS_BUS_PREFIX: prefix, OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '100', WARMUP_BARS: '40', HMM_LEADER_TTL_MS: '6000' };
let engine: EngineProcess;
const replicas: OpsProcess[] = [];
let late: EngineProcess | null = null;

/** The CLI as a child process, awaited without blocking this process (whose replicas must keep
 *  renewing their lease meanwhile). */
async function hmm(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawnHmm('hmm', args, env);
  const status = await child.exited;
  const text = child.output();
  // spawnChild merges the streams: the JSON answer is on stdout, errors start with "hmm: ".
  return { status, stdout: text.slice(text.indexOf('{')), stderr: text };
}

before(async () => {
  engine = await startEngineProcess({ env: { ...common, HMM_ROOT: root('engine'), ENGINE_PORT: '0' }, stdout: false });
  for (const id of ['ops_1', 'ops_2']) {
    replicas.push(await startOpsProcess({ env: { ...common, HMM_ROOT: root(id), OPS_PORT: '0', OPS_REPLICA_ID: id, HMM_ENGINES: `engine_sim=${engine.url}` }, stdout: false }));
  }
});

after(async () => {
  for (const r of replicas) await r.stop();
  await late?.stop();
  await engine?.stop();
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
  await scratch.cleanup();
});

const leader = () => until('a leader', () => replicas.find((r) => r.coordinator!.leads() && r.controlPlane.daemons.running), 10_000);

test('the runbook\'s governance drill straight onto Redis: the leader reduces exposure, the follower sizes with it', async () => {
  const lead = await leader();
  const follower = replicas.find((r) => r !== lead)!;
  // `hmm bus publish` with REDIS_URL set: no Ops API address, no token needed.
  const out = await hmm(['bus', 'publish', 'metrics.update', '{"pnl_unrealized": -150}'], { REDIS_URL, REDIS_BUS_PREFIX: prefix, HMM_ROOT: engine.paths.root });
  assert.equal(out.status, 0, out.stderr);
  assert.equal(JSON.parse(out.stdout).via, 'redis');
  await until('[GOV] on the leader', () => /\[GOV\] 📉 Exposure reduced ×1\.00 → ×0\.70/.test(readFileSync(lead.paths.opsLog, 'utf8')), 8_000);
  assert.equal(((await http('GET', `${lead.opsUrl}/status`)).body['state'] as { exposure_multiplier: number }).exposure_multiplier, 0.7);
  // The follower's daemon does not run; its router sizes with the leader's multiplier.
  assert.equal(follower.controlPlane.daemons.running, false);
  assert.doesNotMatch(readFileSync(follower.paths.opsLog, 'utf8'), /\[GOV\] 📉 Exposure reduced/);
  await until('the multiplier on the follower', async () => ((await http('GET', `${follower.opsUrl}/status`)).body['state'] as { exposure_multiplier: number }).exposure_multiplier === 0.7, 5_000);

  // A deeper loss published through the follower's Ops API reaches the leader's daemon over the
  // bus; the follower then sizes with the leader's new multiplier.
  const deeper = await http('POST', `${follower.opsUrl}/bus/publish`, { topic: 'metrics.update', payload: { pnl_unrealized: -250 } }, TOKEN);
  assert.equal(deeper.status, 200, JSON.stringify(deeper.body));
  await until('×0.50 on the leader', () => /\[GOV\] 📉 Exposure reduced ×0\.70 → ×0\.50/.test(readFileSync(lead.paths.opsLog, 'utf8')), 8_000);
  await until('×0.50 on the follower', async () => ((await http('GET', `${follower.opsUrl}/status`)).body['state'] as { exposure_multiplier: number }).exposure_multiplier === 0.5, 5_000);
});

test('followers size orders with the leader\'s allocations, mirrored to their own ops/capital_allocations.json', async () => {
  const lead = await leader();
  const follower = replicas.find((r) => r !== lead)!;
  await until('the follower\'s mirror', () => {
    try {
      const mine = JSON.parse(readFileSync(follower.paths.capitalAllocations, 'utf8')) as { capital_quota_usd: Record<string, number>; ts: string };
      const theirs = JSON.parse(readFileSync(lead.paths.capitalAllocations, 'utf8')) as { ts: string };
      return mine.ts === theirs.ts && Object.keys(mine.capital_quota_usd).length > 0;
    } catch {
      return false;
    }
  }, 10_000);
  const quotas = (r: OpsProcess) => http('GET', `${r.opsUrl}/strategy/allocations`).then((a) => a.body['capital_quota_usd']);
  assert.deepEqual(await quotas(follower), await quotas(lead));
});

test('a trading state set on the follower is enforced at once and held by the leader (which pushes it when it takes over)', async () => {
  const lead = await leader();
  const follower = replicas.find((r) => r !== lead)!;
  const applied = () => engine.engine.health().trading_state!.applied;
  const before = applied();
  const halt = await http('POST', `${follower.opsUrl}/trading/state`, { scope: 'venue', target: 'engine_sim', state: 'HALTED', reason: 'venue incident' }, TOKEN);
  assert.equal(halt.status, 200, JSON.stringify(halt.body));
  const refused = await http('POST', `${engine.url}/orders`, { symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001' }, TOKEN);
  assert.equal(refused.body['error'], 'TRADING_HALTED');
  const venueState = async (r: OpsProcess) => (((await http('GET', `${r.opsUrl}/status`)).body['state'] as { trading_states: { venues: Record<string, { state: string; actor: string }> } }).trading_states.venues['engine_sim']);
  const onLeader = await until('the HALT on the leader', async () => ((await venueState(lead))?.state === 'HALTED' ? venueState(lead) : null), 5_000);
  assert.equal(onLeader!.actor, (await venueState(follower))!.actor, 'the operator who set it, not the replica');
  const active = await http('POST', `${lead.opsUrl}/trading/state`, { scope: 'venue', target: 'engine_sim', state: 'ACTIVE', reason: 'incident over' }, TOKEN);
  assert.equal(active.status, 200);
  await until('ACTIVE on the follower', async () => (await venueState(follower))?.state === 'ACTIVE', 5_000);
  assert.equal((await http('POST', `${engine.url}/orders`, { symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001' }, TOKEN)).status, 201);
  // Two changes, each applied once by the engine (push from the deciding replica, then the bus
  // copy and the other replica's poll: ignored by version).
  await new Promise((r) => setTimeout(r, 2_200));
  assert.equal(applied() - before, 2);
  assert.equal(engine.engine.health().trading_state!.version, lead.controlPlane.tradingStates.current.version);
  assert.equal(follower.controlPlane.tradingStates.current.version, lead.controlPlane.tradingStates.current.version);
});

test('an engine that starts while the cluster is paused starts paused; the resume reaches it over the bus', async () => {
  const [a] = replicas;
  const kill = await http('POST', `${a!.opsUrl}/kill`, { enabled: false, reason: 'maintenance' }, TOKEN);
  assert.equal(kill.status, 200);
  assert.equal((await http('GET', `${engine.url}/health`)).body['trading_enabled'], false);
  late = await startEngineProcess({ env: { ...common, HMM_ROOT: root('late'), ENGINE_PORT: '0', ENGINE_NAME: 'engine_late' }, stdout: false });
  assert.equal(late.engine.tradingEnabled, false, 'the cluster\'s kill switch read from Redis at start');
  const refused = await http('POST', `${late.url}/orders`, { symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001' }, TOKEN);
  assert.equal(refused.body['error'], 'TRADING_DISABLED');
  // engine_late is in no replica's HMM_ENGINES: only the bus event can resume it.
  assert.equal((await http('POST', `${a!.opsUrl}/kill`, { enabled: true, reason: 'maintenance over' }, TOKEN)).status, 200);
  await until('engine_late resumed by the bus event', () => late!.engine.tradingEnabled, 5_000);
});

test('the CLI refuses what it cannot do, saying why', async () => {
  const badTopic = await hmm(['bus', 'publish', 'no.such.topic', '{}'], { REDIS_URL, REDIS_BUS_PREFIX: prefix });
  assert.notEqual(badTopic.status, 0);
  assert.match(badTopic.stderr, /unknown topic "no\.such\.topic"/);
  const badMetric = await hmm(['bus', 'publish', 'metrics.update', '{"pnl_unrealized": "lots"}'], { REDIS_URL, REDIS_BUS_PREFIX: prefix });
  assert.notEqual(badMetric.status, 0);
  assert.match(badMetric.stderr, /payload\.pnl_unrealized/);
  const badVenue = await hmm(['engine', '--venue', 'kraken'], { HMM_ROOT: root('bad-venue') });
  assert.notEqual(badVenue.status, 0);
  assert.match(badVenue.stderr, /--venue must be sim or binance/);
  const noEngines = await hmm(['ops'], { HMM_ROOT: root('no-engines'), OPS_PORT: '0' });
  assert.notEqual(noEngines.status, 0);
  assert.match(noEngines.stderr, /HMM_ENGINES/);
  const badEngines = await hmm(['ops'], { HMM_ROOT: root('bad-engines'), OPS_PORT: '0', HMM_ENGINES: 'engine_sim' });
  assert.notEqual(badEngines.status, 0);
  assert.match(badEngines.stderr, /config HMM_ENGINES: expected NAME=URL/);
});

test('model orders carry client ids every venue takes (Binance: at most 36 of [A-Za-z0-9_-]), the same for the same signal', () => {
  const ts = 1_795_622_238_710;
  const ma = signalOrderId({ model: modelId('ma_crossover_v1'), symbol: symbol('BTCUSDT'), ts });
  assert.equal(ma, `ma_crossover_v1-BTCUSDT-${ts.toString(36)}`);
  const long = signalOrderId({ model: modelId('ensemble_ma_hmm_regime_v12'), symbol: symbol('ETHUSDT'), ts });
  for (const id of [ma, long]) assert.match(id, /^[A-Za-z0-9_-]{1,36}$/);
  assert.equal(long, signalOrderId({ model: modelId('ensemble_ma_hmm_regime_v12'), symbol: symbol('ETHUSDT'), ts }), 'deterministic: any replica routing it sends the same id');
  assert.notEqual(long, signalOrderId({ model: modelId('ensemble_ma_hmm_regime_v12'), symbol: symbol('ETHUSDT'), ts: ts + 1 }));
});
