// Selling one model's position in one symbol at one engine, at market, in chunks within
// MAX_NOTIONAL_USDT: what a demotion flattens (canaryManager) and what an operator's
// force-exit does (POST /positions/force-exit). Each chunk is an ordinary order through the
// engine's rails, so a HALTED state or a rate limit refuses it like any other order, and the
// refusal comes back as a value with its reason instead of being swallowed.
import { type Fixed, ZERO, div, floorToStep, fx, min as fmin, toDecimalString } from '../core/decimal.js';
import { modelId, symbol as toSymbol } from '../core/ids.js';
import type { EngineHandle } from './engineHandle.js';

export interface FlattenRequest {
  readonly model: string;
  readonly symbol: string;
  /** The largest order worth (USD) one chunk may have: MAX_NOTIONAL_USDT. */
  readonly maxNotionalUsd: Fixed;
  /** Prefix of each chunk's client order id (an actor's tag and a time, so ids never repeat). */
  readonly idPrefix: string;
}

/** How a flatten ended: `held` before, `sold` by it; `stopped` says why it stopped early. */
export interface FlattenOutcome {
  readonly engine: string;
  readonly model: string;
  readonly symbol: string;
  readonly held: string;
  readonly sold: string;
  readonly orders: readonly string[];
  readonly stopped: { readonly reason: string; readonly message: string } | null;
}

/** More chunks than this for one position means a misconfigured maximum, not a real exit. */
const MAX_CHUNKS = 100;

/** Sells what `model` holds in `symbol` at `engine`; a position already flat sells nothing. */
export async function flattenModelPosition(engine: EngineHandle, req: FlattenRequest): Promise<FlattenOutcome> {
  const position = (await engine.modelPositions()).find((p) => p.model === req.model && p.symbol === req.symbol);
  const held = position === undefined ? ZERO : fx(position.qty);
  const base = { engine: engine.name, model: req.model, symbol: req.symbol, held: toDecimalString(held) };
  if (held <= 0n) return { ...base, sold: '0', orders: [], stopped: null };
  const pxText = await engine.lastPrice(req.symbol);
  const instrument = (await engine.instruments()).find((i) => i.symbol === req.symbol);
  if (pxText === null || instrument === undefined) {
    return { ...base, sold: '0', orders: [], stopped: { reason: 'NO_MARKET_DATA', message: `${engine.name} has no price for ${req.symbol} yet` } };
  }
  const chunkMax = floorToStep(div(req.maxNotionalUsd, fx(pxText), 'down'), fx(instrument.step_size));
  let left = held;
  const orders: string[] = [];
  let stopped: FlattenOutcome['stopped'] = null;
  if (chunkMax <= 0n) stopped = { reason: 'MAX_NOTIONAL', message: `one lot of ${req.symbol} is worth more than MAX_NOTIONAL_USDT` };
  for (let i = 0; stopped === null && left > 0n && i < MAX_CHUNKS; i++) {
    const qty = fmin(left, chunkMax);
    const id = `${req.idPrefix}-${i}`;
    const out = await engine.submit({ clientOrderId: id, symbol: toSymbol(req.symbol), side: 'SELL', type: 'MARKET', qty, price: null, model: modelId(req.model) });
    if (out.kind !== 'accepted') {
      stopped = out.kind === 'rejected' ? { reason: out.reason, message: out.message } : { reason: 'CONFLICT', message: out.message };
      break;
    }
    orders.push(out.order.client_order_id);
    const filled = fx(out.order.filled_qty);
    if (filled <= 0n) {
      stopped = { reason: 'NOT_FILLED', message: `order ${id} was accepted but not filled (status ${out.order.status})` };
      break;
    }
    left = (left - filled) as Fixed;
  }
  return { ...base, sold: toDecimalString((held - left) as Fixed), orders, stopped };
}
