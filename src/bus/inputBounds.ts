// The ranges a bus event's numbers must lie in before the control plane acts on it. A bus event
// can come from outside the stack (POST /bus/publish, `hmm bus publish` on the shared Redis
// stream, another replica), and a number that is finite but absurd once moved the governance
// daemon (`pnl_unrealized: -1e308` bound every loss rule). checkBusPayload is the pure check;
// BusInputGuard is what a subscriber side puts in front of its handlers: a refused event never
// reaches them, and is counted and logged (one WARN per topic per minute, not one per event).
import type { Logger } from '../obs/logger.js';
import type { Topic } from './topics.js';

/** A closed numeric range, documented where it is declared. */
interface Range {
  readonly min: number;
  readonly max: number;
}

/** Money in USD (equity, PnL, exposure): a trillion either way is beyond any book this stack runs. */
export const USD_RANGE: Range = { min: -1e12, max: 1e12 };
/** Epoch milliseconds: 1970 to the year 2286 (a replay's simulated clock included). */
export const TS_RANGE: Range = { min: 0, max: 1e13 };
/** metrics.update keys with their own range; any other key must lie in USD_RANGE. */
export const METRIC_RANGES: Readonly<Record<string, Range>> = {
  equity: USD_RANGE,
  peak_equity: USD_RANGE,
  pnl_unrealized: USD_RANGE,
  pnl_realized: USD_RANGE,
  exposure: USD_RANGE,
  drawdown_pct: { min: 0, max: 100 },
  exposure_multiplier: { min: 0, max: 1 },
  error_rate: { min: 0, max: 1 },
  latency_p99_ms: { min: 0, max: 3_600_000 },
};
/** Prices and volumes of a bar: positive prices up to a trillion, volumes up to 1e18. */
const PRICE_RANGE: Range = { min: Number.MIN_VALUE, max: 1e12 };
const VOLUME_RANGE: Range = { min: 0, max: 1e18 };
/** The engine's fixed-point amounts: at most 20 integer digits and 18 decimals, as text. */
const DECIMAL_TEXT = /^-?[0-9]{1,20}(\.[0-9]{1,18})?$/;
/** More keys than this in one metrics.update or weights map is not a real event. */
const MAX_KEYS = 256;

function inRange(v: unknown, r: Range): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= r.min && v <= r.max;
}

function describe(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

type Obj = Record<string, unknown>;

/** The numeric fields a topic's payload may carry, with their ranges (a table built once). */
type RangeTable = readonly (readonly [string, Range])[];

/** Checks the named numeric fields (when present) and decimal-text fields; first problem or null. */
function fields(p: Obj, numbers: RangeTable, decimals: readonly string[] = [], required: readonly string[] = []): string | null {
  for (const k of required) if (p[k] === undefined) return `${k} is missing`;
  for (const [k, r] of numbers) {
    const v = p[k];
    if (v !== undefined && !inRange(v, r)) return `${k} ${describe(v)} is not a finite number in [${r.min}, ${r.max}]`;
  }
  for (const k of decimals) {
    const v = p[k];
    if (v !== undefined && v !== null && (typeof v !== 'string' || !DECIMAL_TEXT.test(v))) return `${k} ${describe(v)} is not a decimal amount`;
  }
  return null;
}

const TS_ONLY: RangeTable = [['ts', TS_RANGE]];
const BAR_FIELDS: RangeTable = [['ts', TS_RANGE], ['open', PRICE_RANGE], ['high', PRICE_RANGE], ['low', PRICE_RANGE], ['close', PRICE_RANGE], ['volume', VOLUME_RANGE]];
const SIGNAL_FIELDS: RangeTable = [['ts', TS_RANGE], ['strength', { min: 0, max: 1 }], ['targetExposure', { min: -1, max: 1 }]];
const ORDER_DECIMALS = ['qty', 'filledQty', 'price'] as const;
const FILL_DECIMALS = ['qty', 'price', 'fee'] as const;
const FILL_REQUIRED = ['qty', 'price'] as const;
const BAR_REQUIRED = ['ts', 'close'] as const;

/** Every number anywhere in a free-form object is finite and within ±1e15 (detail maps). */
function numbersSane(v: unknown, path: string, depth = 0): string | null {
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= 1e15 ? null : `${path} ${describe(v)} is not a finite number within ±1e15`;
  if (depth > 4 || v === null || typeof v !== 'object') return null;
  for (const [k, x] of Object.entries(v as Obj)) {
    const problem = numbersSane(x, `${path}.${k}`, depth + 1);
    if (problem !== null) return problem;
  }
  return null;
}

/**
 * Why an event's payload is out of bounds for its topic, or null when it may be acted on.
 * Pure. Only numbers are judged here (shapes are the subscribers' own business); a number
 * where the stack writes one must be finite and inside its documented range.
 */
export function checkBusPayload(topic: Topic, payload: unknown): string | null {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return 'payload is not an object';
  const p = payload as Obj;
  switch (topic) {
    case 'metrics.update': {
      let n = 0;
      for (const k in p) {
        if (!Object.hasOwn(p, k)) continue;
        if (++n > MAX_KEYS) return `more than ${MAX_KEYS} metrics`;
        const r = METRIC_RANGES[k] ?? USD_RANGE;
        if (!inRange(p[k], r)) return `${k} ${describe(p[k])} is not a finite number in [${r.min}, ${r.max}]`;
      }
      return null;
    }
    case 'market.bar':
      return fields(p, BAR_FIELDS, [], BAR_REQUIRED);
    case 'signal':
      return fields(p, SIGNAL_FIELDS);
    case 'order.update':
      return fields(p, TS_ONLY, ORDER_DECIMALS);
    case 'trade.fill':
      return fields(p, TS_ONLY, FILL_DECIMALS, FILL_REQUIRED);
    case 'risk.rejected':
    case 'alert':
      return fields(p, TS_ONLY);
    case 'trading.state': {
      const doc = p.document;
      const version = doc !== null && typeof doc === 'object' ? (doc as Obj).version : undefined;
      if (version !== undefined && !(inRange(version, { min: 0, max: Number.MAX_SAFE_INTEGER }) && Number.isInteger(version))) return `document.version ${describe(version)} is not a safe integer ≥ 0`;
      return fields(p, TS_ONLY);
    }
    case 'strategy.weights_updated': {
      const w = p.weights;
      if (w !== undefined) {
        if (w === null || typeof w !== 'object') return 'weights is not an object';
        const entries = Object.entries(w as Obj);
        if (entries.length > MAX_KEYS) return `more than ${MAX_KEYS} weights`;
        for (const [k, v] of entries) if (!inRange(v, { min: 0, max: 1 })) return `weights.${k} ${describe(v)} is not a finite number in [0, 1]`;
      }
      return fields(p, TS_ONLY);
    }
    case 'governance.action':
      return fields(p, TS_ONLY) ?? numbersSane(p.detail, 'detail');
    case 'strategy.promoted':
      return numbersSane(p, 'payload');
    case 'storage.state':
      return fields(p, TS_ONLY) ?? numbersSane(p.fault, 'fault');
  }
}

export interface BusInputGuardOptions {
  readonly log: Logger;
  /** Told of each refused event (a counter: hmm_bus_events_refused_total{topic}). */
  readonly onRefused?: (topic: Topic) => void;
  readonly now?: () => number;
  /** At most one WARN per topic per this many ms (default a minute); the rest are counted in it. */
  readonly warnEveryMs?: number;
}

/**
 * The subscriber side's check: admit() is asked once per (event, handler), and judges each event
 * once — the bus hands one payload to all its handlers in a row, so the last verdict is kept
 * with its payload and an event refused before three handlers counts once. (A WeakMap of
 * verdicts cost ~5 µs per event, more than the order path itself.) Bounded: one verdict, and
 * the WARN state per topic.
 */
export class BusInputGuard {
  private lastPayload: unknown = undefined;
  private lastVerdict = true;
  private readonly warned = new Map<Topic, { at: number; suppressed: number }>();
  private readonly now: () => number;
  private readonly warnEveryMs: number;

  constructor(private readonly o: BusInputGuardOptions) {
    this.now = o.now ?? Date.now;
    this.warnEveryMs = o.warnEveryMs ?? 60_000;
  }

  admit(topic: Topic, payload: unknown): boolean {
    if (payload !== null && typeof payload === 'object' && payload === this.lastPayload) return this.lastVerdict;
    const ok = this.judge(topic, payload);
    this.lastPayload = payload;
    this.lastVerdict = ok;
    return ok;
  }

  private judge(topic: Topic, payload: unknown): boolean {
    const problem = checkBusPayload(topic, payload);
    if (problem === null) return true;
    this.o.onRefused?.(topic);
    const now = this.now();
    const w = this.warned.get(topic);
    if (w === undefined || now - w.at >= this.warnEveryMs) {
      const more = w !== undefined && w.suppressed > 0 ? ` (${w.suppressed} more refused on ${topic} since the last warning)` : '';
      this.o.log.warn({ topic, problem }, `[BUS] refused a ${topic} event: ${problem}; nothing acted on it${more}`);
      this.warned.set(topic, { at: now, suppressed: 0 });
    } else {
      w.suppressed++;
    }
    return false;
  }
}
