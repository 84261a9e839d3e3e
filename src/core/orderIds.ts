// Where client order ids are minted: every id this stack sends a venue comes from here, in one
// of two kinds.
//   - time-ordered ids (`<prefix>-<ms base 36, fixed width>-<48 random bits>`) for orders that
//     bring none (an operator's signal, an engine API submit, a handle's retry-safe submit):
//     unique across processes and replicas without coordination, and, time first, they land at
//     the end of the ledger's and the venue's B-tree indexes (random ids dirtied a different
//     index page per order, and each page costs a write at every commit);
//   - deterministic ids of a model's signal, so every ops replica that routes the same signal
//     sends the same id and the engine's idempotency turns the copies into one order. They fit
//     the 36 characters the strictest venues (Binance's newClientOrderId) accept.
import { createHash, randomUUID } from 'node:crypto';
import { type ClientOrderId, clientOrderId } from './ids.js';

/** The longest client order id every supported venue accepts. */
export const VENUE_CLIENT_ID_MAX = 36;

/** A time-ordered, practically unique id: `<prefix>-<time>-<12 hex digits>`. */
export function timeOrderedOrderId(prefix: string, nowMs: number): ClientOrderId {
  // randomUUID draws from Node's cached entropy pool (randomBytes was a syscall per call); its
  // last group is 48 random bits.
  return clientOrderId(`${prefix}-${Math.floor(nowMs).toString(36).padStart(9, '0')}-${randomUUID().slice(24)}`);
}

/** An external order's id (the ops API's signal without one): `ext-<time>-<random>`. */
export function externalOrderId(nowMs: number = Date.now()): ClientOrderId {
  return timeOrderedOrderId('ext', nowMs);
}

/**
 * The id of one model's signal: readable (`model-symbol-ts36`) when that fits the venues'
 * limit, else the model's name cut short and a digest of the whole signal. The same signal
 * always gives the same id.
 */
export function signalOrderId(signal: { readonly model: string; readonly symbol: string; readonly ts: number }): ClientOrderId {
  const readable = `${signal.model}-${signal.symbol}-${Math.floor(signal.ts).toString(36)}`;
  if (readable.length <= VENUE_CLIENT_ID_MAX && /^[A-Za-z0-9_-]+$/.test(readable)) return clientOrderId(readable);
  const digest = createHash('sha256').update(`${signal.model}|${signal.symbol}|${signal.ts}`).digest('base64url').replace(/[^A-Za-z0-9]/g, '').slice(0, 20);
  return clientOrderId(`${signal.model.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 14)}-${digest}`);
}
