// Exact money: every quantity, price, fee and cash amount is a fixed-point bigint with
// 8 decimal places (the precision of spot crypto venues). Floats appear only at the
// edges (metrics, charts, statistics), never in the ledger or the portfolio.
import { InvalidValueError } from './errors.js';

export type Fixed = bigint & { readonly __fixed: unique symbol };

export const SCALE_DIGITS = 8;
export const SCALE = 100_000_000n;

export const ZERO = 0n as Fixed;
export const ONE = SCALE as Fixed;

const DECIMAL_RE = /^([+-])?(\d+)(?:\.(\d+))?$/;

/** Parses a decimal string or a finite number; throws an InvalidValueError (HMM_CORE_INVALID_DECIMAL) naming the input otherwise. */
export function fx(value: string | number | bigint): Fixed {
  if (typeof value === 'bigint') return (value * SCALE) as Fixed;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidValueError('HMM_CORE_INVALID_DECIMAL', `not a finite number: ${value}`);
    // Below 2^53 / 1e8 the scaled double is an exact integer after rounding: the fast path
    // for market data (prices on every bar). Larger values go through their decimal string.
    if (value < 90_000_000 && value > -90_000_000) return BigInt(Math.round(value * 1e8)) as Fixed;
    return parseDecimal(value.toFixed(SCALE_DIGITS));
  }
  return parseDecimal(value);
}

// 10^0 … 10^8, to scale a parsed fraction up to 8 places.
const POW10 = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

function parseDecimal(text: string): Fixed {
  return parseShortDecimal(text) ?? parseAnyDecimal(text);
}

/**
 * The common case without a regex or string slicing: an optional sign, 1 to 7 integer
 * digits, and optionally a point with 1 to 8 fraction digits, nothing else. Its scaled value
 * has at most 15 digits, below 2^53, so it accumulates exactly in a double. Anything else
 * (long numbers, whitespace, more than 8 places, malformed text) returns null and takes the
 * general path, which also words the errors.
 */
function parseShortDecimal(text: string): Fixed | null {
  const len = text.length;
  let i = 0;
  const first = text.charCodeAt(0);
  if (first === 45 /* - */ || first === 43 /* + */) i = 1;
  const intStart = i;
  let n = 0;
  for (; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  if (i === intStart || i - intStart > 7) return null;
  let places = 0;
  if (i < len) {
    if (text.charCodeAt(i) !== 46 /* . */) return null;
    for (i++; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) return null;
      n = n * 10 + (c - 48);
      places++;
    }
    if (places === 0 || places > SCALE_DIGITS) return null;
  }
  const scaled = BigInt(n * POW10[SCALE_DIGITS - places]!);
  return (first === 45 ? -scaled : scaled) as Fixed;
}

function parseAnyDecimal(text: string): Fixed {
  const m = DECIMAL_RE.exec(text.trim());
  if (!m) throw new InvalidValueError('HMM_CORE_INVALID_DECIMAL', `not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, int, frac = ''] = m;
  if (frac.length > SCALE_DIGITS && /[1-9]/.test(frac.slice(SCALE_DIGITS))) {
    throw new InvalidValueError('HMM_CORE_INVALID_DECIMAL', `more than ${SCALE_DIGITS} decimal places: ${text}`);
  }
  const digits = BigInt(int + frac.slice(0, SCALE_DIGITS).padEnd(SCALE_DIGITS, '0'));
  return (sign === '-' ? -digits : digits) as Fixed;
}

/** Raw scaled integer (as stored in SQLite) back to Fixed. */
export function fromRaw(raw: bigint | number | string): Fixed {
  return BigInt(raw) as Fixed;
}

export function toNumber(a: Fixed): number {
  return Number(a) / 1e8;
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

export function toDecimalString(a: Fixed): string {
  // Up to 2^53 (90 million units) the scaled integer is exact as a double: place the point in
  // its digits rather than divide bigints. Every price, quantity and fee the ledger writes.
  if (a <= MAX_EXACT && a >= -MAX_EXACT) return placePoint(Number(a));
  const neg = a < 0n;
  const abs = neg ? -a : a;
  const int = abs / SCALE;
  let frac = (abs % SCALE).toString().padStart(SCALE_DIGITS, '0').replace(/0+$/, '');
  if (frac.length > 0) frac = '.' + frac;
  return (neg ? '-' : '') + int.toString() + frac;
}

/** Prints an exact scaled integer (|scaled| < 2^53) as a decimal, trailing zeros dropped. */
function placePoint(scaled: number): string {
  const neg = scaled < 0;
  const digits = String(neg ? -scaled : scaled);
  const intLen = digits.length - SCALE_DIGITS;
  let end = digits.length;
  const fracStart = intLen > 0 ? intLen : 0;
  while (end > fracStart && digits.charCodeAt(end - 1) === 48 /* 0 */) end--;
  let out: string;
  if (intLen > 0) out = end > intLen ? digits.slice(0, intLen) + '.' + digits.slice(intLen, end) : digits.slice(0, intLen);
  else out = end > 0 ? '0.' + '0'.repeat(-intLen) + digits.slice(0, end) : '0';
  return neg ? '-' + out : out;
}

export const add = (a: Fixed, b: Fixed): Fixed => (a + b) as Fixed;
export const sub = (a: Fixed, b: Fixed): Fixed => (a - b) as Fixed;
export const neg = (a: Fixed): Fixed => -a as Fixed;
export const abs = (a: Fixed): Fixed => (a < 0n ? -a : a) as Fixed;
export const min = (a: Fixed, b: Fixed): Fixed => (a < b ? a : b);
export const max = (a: Fixed, b: Fixed): Fixed => (a > b ? a : b);

export type Rounding = 'down' | 'up' | 'half-even';

/** Integer division with an explicit rounding mode (down = toward zero). */
function divRound(n: bigint, d: bigint, mode: Rounding): bigint {
  const q = n / d;
  // Bigint division truncates toward zero, which is 'down': no remainder needed.
  if (mode === 'down') return q;
  const r = n % d;
  if (r === 0n) return q;
  const positive = (n < 0n) === (d < 0n);
  if (mode === 'up') return positive ? q + 1n : q - 1n;
  const twice = 2n * (r < 0n ? -r : r);
  const dd = d < 0n ? -d : d;
  if (twice < dd) return q;
  if (twice > dd || q % 2n !== 0n) return positive ? q + 1n : q - 1n;
  return q;
}

export function mul(a: Fixed, b: Fixed, mode: Rounding = 'half-even'): Fixed {
  return divRound(a * b, SCALE, mode) as Fixed;
}

export function div(a: Fixed, b: Fixed, mode: Rounding = 'half-even'): Fixed {
  if (b === 0n) throw new InvalidValueError('HMM_CORE_DIVISION_BY_ZERO', 'division by zero');
  return divRound(a * SCALE, b, mode) as Fixed;
}

/** Amount × basis points / 10,000 (fees, slippage). */
export function bps(amount: Fixed, basisPoints: number, mode: Rounding = 'half-even'): Fixed {
  const scaledBps = BigInt(Math.round(basisPoints * 1_000_000));
  return divRound(amount * scaledBps, 10_000_000_000n, mode) as Fixed;
}

/** Largest multiple of step not above |a| (sign kept): the quantity a venue accepts. */
export function floorToStep(a: Fixed, step: Fixed): Fixed {
  if (step <= 0n) return a;
  return ((a / step) * step) as Fixed;
}

export function roundToStep(a: Fixed, step: Fixed, mode: Rounding = 'half-even'): Fixed {
  if (step <= 0n) return a;
  // Already on the step (a bar's price on the tick): a itself, without dividing.
  if (a % step === 0n) return a;
  return (divRound(a, step, mode) * step) as Fixed;
}

export function isMultipleOf(a: Fixed, step: Fixed): boolean {
  return step <= 0n || a % step === 0n;
}

export function cmp(a: Fixed, b: Fixed): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}
