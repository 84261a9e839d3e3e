// An instrument's trading rules: what quantities and prices a venue accepts.
import { type Fixed, floorToStep, roundToStep, isMultipleOf, mul, fx } from './decimal.js';
import type { Symbol } from './ids.js';

export interface Instrument {
  readonly symbol: Symbol;
  readonly base: string;
  readonly quote: string;
  /** Quantity increment (LOT_SIZE stepSize). */
  readonly stepSize: Fixed;
  /** Price increment (PRICE_FILTER tickSize). */
  readonly tickSize: Fixed;
  readonly minQty: Fixed;
  /** Smallest order value the venue accepts, in quote currency. */
  readonly minNotional: Fixed;
}

export type InstrumentViolation =
  | { code: 'QTY_STEP'; message: string }
  | { code: 'QTY_BELOW_MIN'; message: string }
  | { code: 'PRICE_TICK'; message: string }
  | { code: 'BELOW_VENUE_MIN_NOTIONAL'; message: string };

/** Quantity rounded down to the step: never buy or sell more than asked or held. */
export const conformQty = (inst: Instrument, qty: Fixed): Fixed => floorToStep(qty, inst.stepSize);
export const conformPrice = (inst: Instrument, price: Fixed): Fixed => roundToStep(price, inst.tickSize);

export function checkInstrumentRules(inst: Instrument, qty: Fixed, price: Fixed | null, refPrice: Fixed): InstrumentViolation | null {
  if (!isMultipleOf(qty, inst.stepSize)) return { code: 'QTY_STEP', message: `quantity ${qty} is not a multiple of step ${inst.stepSize}` };
  if (qty < inst.minQty) return { code: 'QTY_BELOW_MIN', message: `quantity below the minimum ${inst.minQty}` };
  if (price !== null && !isMultipleOf(price, inst.tickSize)) return { code: 'PRICE_TICK', message: `price is not a multiple of tick ${inst.tickSize}` };
  const notional = mul(qty, price ?? refPrice);
  if (notional < inst.minNotional) return { code: 'BELOW_VENUE_MIN_NOTIONAL', message: `order value below the venue minimum` };
  return null;
}

export function instrument(symbolName: Symbol, base: string, quote: string, rules: { stepSize: string; tickSize: string; minQty: string; minNotional: string }): Instrument {
  return {
    symbol: symbolName,
    base,
    quote,
    stepSize: fx(rules.stepSize),
    tickSize: fx(rules.tickSize),
    minQty: fx(rules.minQty),
    minNotional: fx(rules.minNotional),
  };
}
