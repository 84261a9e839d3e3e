// What ops replicas share through Redis, beside the bus: the one trading-state document (the
// kill switch is its global HALTED), the model weights, the capital allocations and the
// governance exposure multiplier, and the leader's derived state (strategy tracker, shadow book,
// stages: lifecycle/derivedFold.ts). This module owns the keys, their documents and the write rules:
//   - the trading state is one versioned document: a change is applied to the stored document
//     and its version bumped in one atomic step (so concurrent changes on two replicas both land
//     and every replica and engine orders them by version);
//   - weights are last-writer-wins by the time they were decided: a replica stores its own
//     change only if no later one is stored, and applies another's only if it is later than its
//     own (so two operators on two replicas converge on the last);
//   - leader outputs (allocations, multiplier, derived state) are fenced: the write is refused unless its
//     fencing token is still the latest the leader lease has issued, so a stale leader (a GC
//     pause, a partition) cannot overwrite its successor's allocations. Every accepted
//     allocation write is logged in a capped list with its token, for operators and tests, and
//     every refused write is counted per output (ops:allocations:refused,
//     ops:exposure_multiplier:refused, ops:derived:refused): the runbook reads the first as
//     "a stale leader's allocation was refused", so the other two outputs do not add to it.
// Each replica also keeps its own files (ops/trading_states.json, ops/strategy_weights.json,
// ops/capital_allocations.json) as mirrors, so the runbook's `cat`/`jq` work on any of them.
// The allocator that publishes through this store is portfolio/replicatedAllocator.ts (beside
// the allocator it replicates); leadership is leaderLease.ts and the rules that apply another
// replica's decisions here are coordinator.ts, both in this folder.
import type { Redis } from 'ioredis';
import { type RedisTarget, createRedis } from '../../bus/redisConnection.js';
import { type TradingScope, type TradingStateDocument, type TradingStateEntry, parseTradingStateDocument } from '../../core/tradingState.js';
import type { AllocationsDoc, AllocationStore } from '../../portfolio/replicatedAllocator.js';
import type { DerivedSnapshot } from '../../lifecycle/derivedFold.js';

export type { AllocationsDoc } from '../../portfolio/replicatedAllocator.js';

export interface ReplicationKeys {
  /** The one trading-state document (JSON, with its version). */
  readonly tradingState: string;
  readonly weights: string;
  readonly allocations: string;
  readonly allocationWrites: string;
  /** Allocation writes refused by fencing (a count; the runbook's key). */
  readonly allocationRefusals: string;
  readonly multiplier: string;
  /** Multiplier writes refused by fencing. */
  readonly multiplierRefusals: string;
  /** The leader's derived state (tracker, shadow book, stages) with its stream position. */
  readonly derived: string;
  /** Derived-state writes refused by fencing. */
  readonly derivedRefusals: string;
}

export function replicationKeys(prefix: string): ReplicationKeys {
  return {
    tradingState: `${prefix}ops:trading_state`,
    weights: `${prefix}ops:weights`,
    allocations: `${prefix}ops:allocations`,
    allocationWrites: `${prefix}ops:allocations:writes`,
    allocationRefusals: `${prefix}ops:allocations:refused`,
    multiplier: `${prefix}ops:exposure_multiplier`,
    multiplierRefusals: `${prefix}ops:exposure_multiplier:refused`,
    derived: `${prefix}ops:derived`,
    derivedRefusals: `${prefix}ops:derived:refused`,
  };
}

export interface WeightsDocR {
  readonly weights: Readonly<Record<string, number>>;
  readonly updated_by: string;
  readonly ts: number;
  readonly by: string;
}

export interface MultiplierDoc {
  readonly multiplier: number;
  readonly token: number;
  readonly holder: string;
  readonly ts: number;
}

/** The leader's derived state as published: its fencing token, who and when, and the snapshot. */
export interface DerivedDoc {
  readonly token: number;
  readonly holder: string;
  readonly ts: number;
  readonly snapshot: DerivedSnapshot;
}

/** Writes refused by fencing since the keys were created, per leader output. */
export interface FencedRefusals {
  readonly allocations: number;
  readonly exposure_multiplier: number;
  readonly derived: number;
}

export interface AllocationWrite {
  readonly token: number;
  readonly holder: string;
  readonly ts: number;
}

// KEYS[1] doc; ARGV[1] json, ARGV[2] its order (a ts or a version), ARGV[3] the field that holds
// that order in a stored doc. Stores it unless a doc at least as recent is stored (a replica
// that decided while Redis was away catches up; an older write never undoes a newer one).
const SET_IF_NEWER = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if ok and type(doc) == 'table' and tonumber(doc[ARGV[3]]) and tonumber(doc[ARGV[3]]) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

// KEYS[1] the trading-state document; ARGV[1] scope, ARGV[2] target, ARGV[3] entry json, ARGV[4]
// now (ms), ARGV[5] the replica's document (the seed when none is stored). Sets the entry, bumps
// the version to max(version + 1, now) and returns the new document. (cjson keeps 14 significant
// digits: a millisecond version has 13.)
const COMMIT_TRADING_STATE = `
local doc = nil
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, d = pcall(cjson.decode, cur)
  if ok and type(d) == 'table' and type(d['global']) == 'table' then doc = d end
end
if doc == nil then doc = cjson.decode(ARGV[5]) end
local entry = cjson.decode(ARGV[3])
if ARGV[1] == 'global' then
  doc['global'] = entry
else
  local k = 'models'
  if ARGV[1] == 'venue' then k = 'venues' end
  if type(doc[k]) ~= 'table' then doc[k] = {} end
  doc[k][ARGV[2]] = entry
end
local v = tonumber(doc['version']) or 0
doc['version'] = math.max(v + 1, tonumber(ARGV[4]))
local out = cjson.encode(doc)
redis.call('SET', KEYS[1], out)
return out`;

// KEYS[1] fence counter of the lease, KEYS[2] doc, KEYS[3] write log (or the doc again), KEYS[4]
// that output's refusal counter; ARGV[1] token, ARGV[2] json, ARGV[3] log entry ('' = no log). 1 written, 0 fenced.
const SET_FENCED = `
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < fence then
  redis.call('INCR', KEYS[4])
  return 0
end
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[3])
  redis.call('LTRIM', KEYS[3], 0, 499)
end
return 1`;

/** The Redis side of replication: reads and the two kinds of write. No policy of its own. */
export class OpsStateStore implements AllocationStore {
  readonly keys: ReplicationKeys;
  private readonly redis: Redis;

  constructor(readonly url: RedisTarget, prefix: string, private readonly fenceKey: string, connectionName = 'hmm-ops-state') {
    this.keys = replicationKeys(prefix);
    // Fail fast while disconnected: a poll retries on its own, and a decision must not be
    // applied late from a queue.
    this.redis = createRedis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName, retryStrategy: (n) => Math.min(1_000, 100 * n) });
    this.redis.on('error', () => undefined); // reported through failed calls
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async getJson<T>(key: string): Promise<T | null> {
    const raw = await this.redis.get(key);
    if (raw === null) return null;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return null;
    }
  }

  /** The shared trading-state document, or null when none is stored (or it cannot be read). */
  async readTradingState(): Promise<TradingStateDocument | null> {
    const raw = await this.redis.get(this.keys.tradingState);
    return raw === null ? null : parseStoredTradingState(raw);
  }

  /** Applies one entry to the shared document atomically; the new document, with its version. */
  async commitTradingState(scope: TradingScope, target: string | null, entry: TradingStateEntry, base: TradingStateDocument, nowMs: number): Promise<TradingStateDocument> {
    const out = await this.redis.eval(COMMIT_TRADING_STATE, 1, this.keys.tradingState, scope, target ?? '', JSON.stringify(entry), String(Math.floor(nowMs)), JSON.stringify(base));
    const doc = parseStoredTradingState(String(out));
    if (doc === null) throw new Error('the stored trading state could not be read back');
    return doc;
  }

  /** Stores a document decided while Redis was away, unless a version at least as high is stored. */
  async writeTradingStateIfNewer(doc: TradingStateDocument): Promise<boolean> {
    return Number(await this.redis.eval(SET_IF_NEWER, 1, this.keys.tradingState, JSON.stringify(doc), String(doc.version), 'version')) === 1;
  }

  readWeights(): Promise<WeightsDocR | null> {
    return this.getJson<WeightsDocR>(this.keys.weights);
  }

  async writeWeights(doc: WeightsDocR): Promise<boolean> {
    return Number(await this.redis.eval(SET_IF_NEWER, 1, this.keys.weights, JSON.stringify(doc), String(doc.ts), 'ts')) === 1;
  }

  readAllocations(): Promise<AllocationsDoc | null> {
    return this.getJson<AllocationsDoc>(this.keys.allocations);
  }

  /** 'written', or 'fenced' when a later leader exists (nothing is written then). */
  async writeAllocations(doc: AllocationsDoc): Promise<'written' | 'fenced'> {
    const entry: AllocationWrite = { token: doc.token, holder: doc.holder, ts: doc.ts };
    const r = await this.redis.eval(SET_FENCED, 4, this.fenceKey, this.keys.allocations, this.keys.allocationWrites, this.keys.allocationRefusals, String(doc.token), JSON.stringify(doc), JSON.stringify(entry));
    return Number(r) === 1 ? 'written' : 'fenced';
  }

  /** Accepted allocation writes, newest first. */
  async allocationWrites(limit = 500): Promise<AllocationWrite[]> {
    return (await this.redis.lrange(this.keys.allocationWrites, 0, limit - 1)).map((s) => JSON.parse(s) as AllocationWrite);
  }

  /** Allocation writes refused by fencing (the other outputs count apart: fencedRefusals). */
  async allocationRefusals(): Promise<number> {
    return Number((await this.redis.get(this.keys.allocationRefusals)) ?? 0);
  }

  /** Writes refused by fencing, per leader output. */
  async fencedRefusals(): Promise<FencedRefusals> {
    const [a, m, d] = await this.redis.mget(this.keys.allocationRefusals, this.keys.multiplierRefusals, this.keys.derivedRefusals);
    return { allocations: Number(a ?? 0), exposure_multiplier: Number(m ?? 0), derived: Number(d ?? 0) };
  }

  readMultiplier(): Promise<MultiplierDoc | null> {
    return this.getJson<MultiplierDoc>(this.keys.multiplier);
  }

  writeMultiplier(doc: MultiplierDoc): Promise<'written' | 'fenced'> {
    return this.writeFencedDoc(this.keys.multiplier, this.keys.multiplierRefusals, doc);
  }

  readDerived(): Promise<DerivedDoc | null> {
    return this.getJson<DerivedDoc>(this.keys.derived);
  }

  /** The leader's derived state, fenced like its allocations: 'fenced' when a later leader exists. */
  writeDerived(doc: DerivedDoc): Promise<'written' | 'fenced'> {
    return this.writeFencedDoc(this.keys.derived, this.keys.derivedRefusals, doc);
  }

  /** A leader output with no write log (SET_FENCED's LPUSH is skipped for an empty entry),
   *  its refusals counted under its own key. */
  private async writeFencedDoc(key: string, refusalKey: string, doc: { readonly token: number }): Promise<'written' | 'fenced'> {
    const r = await this.redis.eval(SET_FENCED, 4, this.fenceKey, key, key, refusalKey, String(doc.token), JSON.stringify(doc), '');
    return Number(r) === 1 ? 'written' : 'fenced';
  }

  /** Who holds a lease key now (its value is "<holder>#<token>"), or null. */
  async leaseHolder(leaseKey: string): Promise<{ holder: string; token: number } | null> {
    const v = await this.redis.get(leaseKey);
    if (v === null) return null;
    const i = v.lastIndexOf('#');
    return { holder: v.slice(0, i), token: Number(v.slice(i + 1)) };
  }
}

/** A stored document; cjson writes an empty map as {} and may escape '/', both read back fine. */
function parseStoredTradingState(raw: string): TradingStateDocument | null {
  try {
    return parseTradingStateDocument(JSON.parse(raw));
  } catch {
    return null;
  }
}

/** The cluster's trading-state document, for an engine starting (one short-lived connection);
 *  null when none is stored. Throws when Redis cannot be read: the caller decides how to fail safe. */
export async function readClusterTradingState(url: RedisTarget, prefix: string, timeoutMs = 3_000): Promise<TradingStateDocument | null> {
  // One attempt: no retry of the server, nor of the sentinels (their default retries forever).
  const redis = createRedis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null, sentinelRetryStrategy: () => null, connectionName: 'hmm-engine-start' });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const raw = await redis.get(replicationKeys(prefix).tradingState);
    if (raw === null) return null;
    const doc = parseStoredTradingState(raw);
    if (doc === null) throw new Error(`${replicationKeys(prefix).tradingState} holds no readable trading state`);
    return doc;
  } finally {
    redis.disconnect();
  }
}
