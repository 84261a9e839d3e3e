// A force-exit as one service (POST /positions/force-exit and Telegram's /forceexit both call
// it): sell what a model holds in a symbol at market now, at every engine holding it (or the
// one named), in chunks within MAX_NOTIONAL_USDT through each engine's rails (engine/flatten.ts)
// — a HALTED state refuses it like any order, REDUCING lets it through. Nothing held is a 409;
// nothing sold because the rails refused is that refusal's status, as for any order.
import type { Fixed } from '../core/decimal.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import { flattenModelPosition, type FlattenOutcome } from '../engine/flatten.js';
import { HttpError } from '../http/errors.js';
import { refusalStatus } from '../http/status.js';
import type { Logger } from '../obs/logger.js';

export interface ForceExitRequest {
  readonly model: string;
  readonly symbol: string;
  readonly engine?: string;
  readonly reason?: string;
  readonly actor: string;
}

export interface ForceExitDeps {
  readonly engines: () => readonly EngineHandle[];
  readonly maxNotionalUsd: Fixed;
  readonly log: Logger;
  readonly now: () => number;
}

export interface ForceExitAnswer {
  readonly ok: boolean;
  readonly sold: string;
  readonly held: string;
  readonly exits: readonly FlattenOutcome[];
}

export async function forceExit(d: ForceExitDeps, b: ForceExitRequest): Promise<ForceExitAnswer> {
  const symbol = b.symbol.toUpperCase();
  const all = d.engines();
  if (b.engine !== undefined && !all.some((e) => e.name === b.engine)) {
    throw new HttpError(400, `unknown engine "${b.engine}"`, [{ field: 'engine', message: `unknown engine (known: ${all.map((e) => e.name).join(', ')})` }]);
  }
  const holders: EngineHandle[] = [];
  for (const e of all) {
    if (b.engine !== undefined && e.name !== b.engine) continue;
    if ((await e.modelPositions()).some((p) => p.model === b.model && p.symbol === symbol && Number(p.qty) > 0)) holders.push(e);
  }
  if (holders.length === 0) throw new HttpError(409, `${b.model} holds no ${symbol}${b.engine ? ` at ${b.engine}` : ''}: nothing to exit`, [{ field: 'symbol', message: 'no open position' }], 'HMM_OPS_NO_POSITION');
  const exits: FlattenOutcome[] = [];
  for (const e of holders) {
    const idPrefix = `${b.model.slice(0, 24)}-fx-${d.now().toString(36)}`;
    exits.push(await flattenModelPosition(e, { model: b.model, symbol, maxNotionalUsd: d.maxNotionalUsd, idPrefix }));
  }
  const sold = exits.reduce((s, x) => s + Number(x.sold), 0);
  const held = exits.reduce((s, x) => s + Number(x.held), 0);
  const stopped = exits.find((x) => x.stopped !== null)?.stopped ?? null;
  const line = `[RISK] force-exit ${b.model} ${symbol} by ${b.actor}${b.reason ? ` (${b.reason})` : ''}: sold ${sold} of ${held}${stopped ? `; stopped: ${stopped.reason} ${stopped.message}` : ''}`;
  if (stopped) d.log.warn({ model: b.model, symbol, actor: b.actor }, line);
  else d.log.info({ model: b.model, symbol, actor: b.actor }, line);
  if (sold === 0 && stopped) throw new HttpError(refusalStatus(stopped.reason), `force-exit of ${b.model} ${symbol} refused: ${stopped.reason} ${stopped.message}`, [{ field: 'symbol', message: stopped.reason }], 'HMM_OPS_FORCE_EXIT_REFUSED');
  return { ok: stopped === null, sold: String(sold), held: String(held), exits };
}
