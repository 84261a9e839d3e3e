// The one table from an outcome to the HTTP status both APIs answer with, and its reverse.
// The engine API answers a submit, a cancel and a notional order it did not size with it; both
// APIs answer a stop acknowledgement with it; the Ops API answers a routed signal with it;
// HttpEngineHandle reads an engine's answer back into an outcome with the same tables, so the
// translations cannot drift apart.
//
// Why here and typed by plain strings: http sits below engine in the layer order (engines
// and the Ops API both build on it), so it may not import SubmitOutcome or the risk rails'
// reasons. An outcome's `kind` and a refusal's `reason` are wire values anyway (they are what
// a client reads in the body); test/unit/http/status.test.ts ties this table to the engine's
// reason union, so a reason added there without a row here fails a test, not an operator.

/** Statuses an outcome can answer with. */
export type OutcomeStatus = 200 | 201 | 403 | 404 | 409 | 422 | 429 | 503;

/** Refusal reasons that do not answer 422 (the default: the order itself cannot be placed).
 *  403: trading is stopped for it (kill switch, HALTED/REDUCING states, a symbol off the
 *  allow-list, or the process's admission refusing new orders while its bus is down): the
 *  same order may pass later without change. 429: the order-rate rail; retry later. 503: the
 *  disk refuses writes (STORAGE): the order could not be put on record, so it was not taken;
 *  the stack resumes by itself once writes succeed. */
export const REFUSAL_STATUS: Readonly<Record<string, 403 | 429 | 503>> = {
  TRADING_DISABLED: 403,
  TRADING_HALTED: 403,
  TRADING_REDUCING: 403,
  SYMBOL_NOT_ALLOWED: 403,
  BUS_UNAVAILABLE: 403,
  RATE_LIMIT: 429,
  STORAGE: 503,
};

/** The status of a refused order or signal with this reason code. */
export function refusalStatus(reason: string | null): 403 | 422 | 429 | 503 {
  return (reason !== null && REFUSAL_STATUS[reason]) || 422;
}

/** Outcomes as the table reads them: the engine's SubmitOutcome and CancelOutcome and the
 *  router's results all fit (structurally) without http importing them. */
export type Outcome =
  | { readonly kind: 'accepted'; readonly duplicate: boolean }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'canceled' }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_open' };

/** Status by outcome kind (rejected: by reason, REFUSAL_STATUS). A replayed accept is 200: the
 *  order exists already; a first accept is 201. */
const KIND_STATUS = {
  accepted: 201,
  duplicate: 200,
  conflict: 409,
  canceled: 200,
  not_found: 404,
  not_open: 409,
} as const;

type SubmitLike = Extract<Outcome, { kind: 'accepted' | 'rejected' | 'conflict' }>;
type CancelLike = Extract<Outcome, { kind: 'canceled' | 'not_found' | 'not_open' }>;

export function statusOf(o: SubmitLike): 200 | 201 | 403 | 409 | 422 | 429 | 503;
export function statusOf(o: CancelLike): 200 | 404 | 409;
export function statusOf(o: Outcome): OutcomeStatus;
export function statusOf(o: Outcome): OutcomeStatus {
  switch (o.kind) {
    case 'accepted': return o.duplicate ? KIND_STATUS.duplicate : KIND_STATUS.accepted;
    case 'rejected': return refusalStatus(o.reason);
    default: return KIND_STATUS[o.kind];
  }
}

/** A routed signal's outcome (portfolio's RouteOutcome): routed, skipped and shadow are
 *  answered 200 (the signal was taken; the body says what became of it). */
export function signalStatusOf(r: { readonly outcome: string; readonly reason: string | null }): 200 | 403 | 409 | 422 | 429 | 503 {
  if (r.outcome === 'conflict') return KIND_STATUS.conflict;
  if (r.outcome === 'rejected') return refusalStatus(r.reason);
  return 200;
}

/** A notional order the engine did not place (engine/sizing.ts's NotSized), by its reason: a
 *  skip below the minimum is a normal answer (already at target), a missing price or symbol is a
 *  refusal. test/unit/http/status.test.ts ties the rows to the engine's NotSizedReason union. */
export const NOT_SIZED_STATUS: Readonly<Record<string, 200 | 422>> = {
  BELOW_MIN_NOTIONAL: 200,
  NO_MARKET_DATA: 422,
  UNKNOWN_SYMBOL: 422,
};
const NOT_SIZED_ANSWERS: ReadonlySet<number> = new Set(Object.values(NOT_SIZED_STATUS));

/** The status of a not-sized answer with this reason (422 for a reason the table lacks: a refusal). */
export function notSizedStatus(reason: string): 200 | 422 {
  return Object.hasOwn(NOT_SIZED_STATUS, reason) ? NOT_SIZED_STATUS[reason]! : 422;
}

/** The reverse: whether a POST /orders answer with this status can be a not-sized outcome (its
 *  body's `status: "not_sized"` says it is one). */
export function isNotSizedStatus(status: number): boolean {
  return NOT_SIZED_ANSWERS.has(status);
}

/** Acknowledging an engine's own stop (engine POST /stop/ack, Ops POST /engines/:name/ack): 200
 *  when it was lifted, 409 when there is none or the ledger still cannot commit. */
const STOP_ACK_STATUS = { acknowledged: 200, refused: 409 } as const;

export function stopAckStatusOf(r: { readonly acknowledged: boolean }): 200 | 409 {
  return r.acknowledged ? STOP_ACK_STATUS.acknowledged : STOP_ACK_STATUS.refused;
}

/** The reverse: an engine's ack answer with this status is a refused acknowledgement (a body to
 *  read, not an error to raise). */
export function isStopAckRefused(status: number): boolean {
  return status === STOP_ACK_STATUS.refused;
}

/** Every status a refusal answers with. */
const REFUSED: ReadonlySet<number> = new Set([422, ...Object.values(REFUSAL_STATUS)]);

/** The reverse for a submit: which outcome an engine's answer status means, or null when the
 *  status is none of the table's (an error to raise, not an outcome). */
export function submitKindOf(status: number): 'accepted' | 'rejected' | 'conflict' | null {
  if (status === KIND_STATUS.accepted || status === KIND_STATUS.duplicate) return 'accepted';
  if (status === KIND_STATUS.conflict) return 'conflict';
  if (REFUSED.has(status)) return 'rejected';
  return null;
}

/** The reverse for a cancel. */
export function cancelKindOf(status: number): 'canceled' | 'not_found' | 'not_open' | null {
  if (status === KIND_STATUS.canceled) return 'canceled';
  if (status === KIND_STATUS.not_found) return 'not_found';
  if (status === KIND_STATUS.not_open) return 'not_open';
  return null;
}
