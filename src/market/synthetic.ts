// Synthetic market data: a seeded, regime-switching OHLCV generator for several symbols,
// and a live feed that emits its bars on a timer. Owns the regime model (a Markov chain
// per symbol over calm / trending-up / trending-down / volatile) and the price path; it
// knows nothing of orders or venues. Same seed → the same bars, bit for bit.
import { Rng, type RngState } from '../core/random.js';
import { type Symbol, symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { BarFeed } from './feed.js';
import { InvalidValueError } from '../core/errors.js';

export type RegimeName = 'calm' | 'trending-up' | 'trending-down' | 'volatile';
export const REGIME_NAMES: readonly RegimeName[] = ['calm', 'trending-up', 'trending-down', 'volatile'];

export interface RegimeSpec {
  readonly name: RegimeName;
  /** Annualised volatility of log returns (0.7 = 70 %) for a symbol with volMultiplier 1. */
  readonly annualVol: number;
  /** Drift per bar in units of that bar's volatility. Expressed this way (not annualised)
   *  so a trend is equally visible at 1 s and 1 h bars: an annualised drift that shows at
   *  1 h bars would vanish in the noise of 1 min bars. */
  readonly driftPerBarSigma: number;
  /** Expected regime length in bars (the chain stays with probability 1 − 1/meanBars). */
  readonly meanBars: number;
  /** Where the chain goes when it leaves, as weights over REGIME_NAMES (own weight ignored). */
  readonly exitWeights: readonly [number, number, number, number];
  /** Volume relative to the symbol's base volume (volatile markets trade more). */
  readonly volumeMultiplier: number;
}

export const DEFAULT_REGIMES: readonly RegimeSpec[] = [
  { name: 'calm', annualVol: 0.4, driftPerBarSigma: 0, meanBars: 600, exitWeights: [0, 0.35, 0.35, 0.3], volumeMultiplier: 0.7 },
  { name: 'trending-up', annualVol: 0.65, driftPerBarSigma: 0.08, meanBars: 400, exitWeights: [0.5, 0, 0.2, 0.3], volumeMultiplier: 1.1 },
  { name: 'trending-down', annualVol: 0.75, driftPerBarSigma: -0.08, meanBars: 400, exitWeights: [0.5, 0.2, 0, 0.3], volumeMultiplier: 1.3 },
  { name: 'volatile', annualVol: 1.3, driftPerBarSigma: 0, meanBars: 250, exitWeights: [0.6, 0.2, 0.2, 0], volumeMultiplier: 2 },
];

export interface SyntheticSymbolSpec {
  readonly symbol: string;
  readonly startPrice: number;
  /** Scales every regime's volatility (ETH moves somewhat more than BTC). */
  readonly volMultiplier?: number;
  /** Mean traded base quantity per minute of bar interval (scaled to the interval). */
  readonly baseVolumePerMinute?: number;
  /** Decimal places bar prices are rounded to (the venue tick). */
  readonly priceDecimals?: number;
}

export const DEFAULT_SYMBOL_SPECS: Readonly<Record<string, SyntheticSymbolSpec>> = {
  BTCUSDT: { symbol: 'BTCUSDT', startPrice: 60_000, volMultiplier: 1, baseVolumePerMinute: 15, priceDecimals: 2 },
  ETHUSDT: { symbol: 'ETHUSDT', startPrice: 3_000, volMultiplier: 1.2, baseVolumePerMinute: 250, priceDecimals: 2 },
  SOLUSDT: { symbol: 'SOLUSDT', startPrice: 150, volMultiplier: 1.5, baseVolumePerMinute: 3_000, priceDecimals: 2 },
};

export interface SyntheticMarketOptions {
  readonly seed: number;
  /** Names from DEFAULT_SYMBOL_SPECS or full specs; default BTCUSDT and ETHUSDT. */
  readonly symbols?: readonly (string | SyntheticSymbolSpec)[];
  /** Bar length; default one minute. */
  readonly intervalMs?: number;
  /** Open time of the first bar; default 2024-01-01T00:00:00Z (a fixed date keeps runs reproducible). */
  readonly startTs?: number;
  readonly regimes?: readonly RegimeSpec[];
  /** Correlation of the return shocks between any two symbols; default 0.6. */
  readonly correlation?: number;
  /** When a symbol's regime changes, the chance it joins the first symbol's regime instead
   *  of drawing its own: crypto regimes are largely market-wide. Default 0.5. */
  readonly regimeCoupling?: number;
  /** Half-life of a weak pull of log price back to the start price, in days. It keeps a
   *  long backtest (millions of bars) within a sane range without being visible in a day
   *  of bars. Default 30; Infinity disables it. */
  readonly meanReversionHalfLifeDays?: number;
  /** Scales every regime's drift (the planted edge): 1 = the regimes as specified (default),
   *  0 = no drift anywhere (a market with nothing to find), 2 = trends twice as strong.
   *  With drift, a model that identifies the regime can earn an edge; one that cannot, cannot. */
  readonly driftScale?: number;
  /** Continue a market from its snapshot (same seed and symbols), instead of from the seed. */
  readonly resume?: SyntheticMarketState;
}

/** Everything a market needs to continue where it stopped: no price jump, same regime process. */
export interface SyntheticMarketState {
  readonly version: 1;
  readonly seed: number;
  readonly intervalMs: number;
  readonly driftScale: number;
  /** Open time of the next bar. */
  readonly nextTs: number;
  readonly steps: number;
  readonly rng: RngState;
  readonly symbols: readonly { readonly symbol: string; readonly logPrice: number; readonly regime: number; readonly barsInRegime: number }[];
}

const YEAR_MS = 365 * 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;
const DEFAULT_START_TS = Date.UTC(2024, 0, 1);

/** Per-symbol mutable state, kept in flat fields so a step allocates only its Bar. */
interface SymbolState {
  readonly symbol: Symbol;
  readonly logAnchor: number;
  readonly volMultiplier: number;
  readonly baseVolume: number;
  readonly priceScale: number;
  logPrice: number;
  regime: number;
  barsInRegime: number;
}

/** Precomputed per-regime numbers for the configured interval. */
interface RegimeRuntime {
  readonly spec: RegimeSpec;
  readonly sigma: number;
  readonly drift: number;
  readonly leaveProb: number;
}

export class SyntheticMarket {
  readonly intervalMs: number;
  private rng: Rng;
  private readonly states: SymbolState[];
  private readonly regimes: RegimeRuntime[];
  private readonly rho: number;
  private readonly idio: number;
  private readonly coupling: number;
  private readonly kappa: number;
  private ts: number;
  private stepCount = 0;
  private readonly seed: number;
  private readonly driftScale: number;

  constructor(opts: SyntheticMarketOptions) {
    if (!Number.isInteger(opts.seed)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `seed must be an integer, got ${opts.seed}`);
    this.intervalMs = opts.intervalMs ?? 60_000;
    if (!(this.intervalMs > 0)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `intervalMs must be positive, got ${this.intervalMs}`);
    this.ts = opts.startTs ?? DEFAULT_START_TS;
    this.seed = opts.seed;
    this.driftScale = opts.driftScale ?? 1;
    if (!(this.driftScale >= 0 && this.driftScale <= 100)) throw new RangeError(`driftScale must be in [0, 100], got ${this.driftScale}`);
    this.rng = new Rng(opts.seed);
    const corr = opts.correlation ?? 0.6;
    if (!(corr >= 0 && corr < 1)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `correlation must be in [0, 1), got ${corr}`);
    this.rho = Math.sqrt(corr);
    this.idio = Math.sqrt(1 - corr);
    this.coupling = opts.regimeCoupling ?? 0.5;
    if (!(this.coupling >= 0 && this.coupling <= 1)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `regimeCoupling must be in [0, 1], got ${this.coupling}`);
    const halfLife = opts.meanReversionHalfLifeDays ?? 30;
    this.kappa = Number.isFinite(halfLife) ? Math.LN2 / ((halfLife * DAY_MS) / this.intervalMs) : 0;

    const specs = opts.regimes ?? DEFAULT_REGIMES;
    if (specs.length !== REGIME_NAMES.length) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `regimes must list ${REGIME_NAMES.join(', ')} in that order`);
    const sqrtDt = Math.sqrt(this.intervalMs / YEAR_MS);
    this.regimes = specs.map((spec, i) => {
      if (spec.name !== REGIME_NAMES[i]) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `regimes[${i}] must be ${REGIME_NAMES[i]}, got ${spec.name}`);
      if (!(spec.meanBars >= 1)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `regimes[${i}].meanBars must be ≥ 1`);
      const sigma = spec.annualVol * sqrtDt;
      return { spec, sigma, drift: this.driftScale * spec.driftPerBarSigma * sigma, leaveProb: 1 / spec.meanBars };
    });

    const symbolSpecs = (opts.symbols ?? ['BTCUSDT', 'ETHUSDT']).map((s) => {
      if (typeof s !== 'string') return s;
      const known = DEFAULT_SYMBOL_SPECS[s];
      if (!known) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `no default spec for symbol ${s}: pass { symbol, startPrice }`);
      return known;
    });
    if (symbolSpecs.length === 0) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', 'symbols must not be empty');
    const minutes = this.intervalMs / 60_000;
    this.states = symbolSpecs.map((spec) => {
      if (!(spec.startPrice > 0)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `startPrice of ${spec.symbol} must be positive`);
      const logAnchor = Math.log(spec.startPrice);
      return {
        symbol: toSymbol(spec.symbol),
        logAnchor,
        volMultiplier: spec.volMultiplier ?? 1,
        baseVolume: (spec.baseVolumePerMinute ?? 10) * minutes,
        priceScale: 10 ** (spec.priceDecimals ?? 2),
        logPrice: logAnchor,
        // Every symbol starts calm so the first bars of any seed look alike; the chain
        // leaves within a few hundred bars.
        regime: 0,
        barsInRegime: 0,
      };
    });
    if (opts.resume) this.resumeFrom(opts.resume);
  }

  /** The state to persist; `new SyntheticMarket({ ...sameOptions, resume })` continues from it. */
  snapshot(): SyntheticMarketState {
    return {
      version: 1,
      seed: this.seed,
      intervalMs: this.intervalMs,
      driftScale: this.driftScale,
      nextTs: this.ts,
      steps: this.stepCount,
      rng: this.rng.state(),
      symbols: this.states.map((s) => ({ symbol: s.symbol, logPrice: s.logPrice, regime: s.regime, barsInRegime: s.barsInRegime })),
    };
  }

  private resumeFrom(st: SyntheticMarketState): void {
    // A state for another seed, bar length, drift or symbol list is another market: resuming it
    // would silently change the regime process, so it is refused and the caller says so.
    if (st.version !== 1) throw new RangeError(`market state version ${String(st.version)} is not 1`);
    if (st.seed !== this.seed) throw new RangeError(`market state is for seed ${st.seed}, not ${this.seed}`);
    if (st.intervalMs !== this.intervalMs) throw new RangeError(`market state is for ${st.intervalMs} ms bars, not ${this.intervalMs}`);
    if (st.driftScale !== this.driftScale) throw new RangeError(`market state is for drift ${st.driftScale}, not ${this.driftScale}`);
    if (!Number.isInteger(st.nextTs) || !Number.isInteger(st.steps) || st.steps < 0) throw new RangeError('market state nextTs/steps must be integers');
    const names = st.symbols.map((s) => s.symbol).join(',');
    if (names !== this.states.map((s) => s.symbol).join(',')) throw new RangeError(`market state is for ${names}, not ${this.states.map((s) => s.symbol).join(',')}`);
    const rng = Rng.fromState(st.rng);
    for (const saved of st.symbols) {
      if (!Number.isFinite(saved.logPrice) || !Number.isInteger(saved.regime) || saved.regime < 0 || saved.regime >= REGIME_NAMES.length || !Number.isInteger(saved.barsInRegime) || saved.barsInRegime < 0) {
        throw new RangeError(`market state for ${saved.symbol} is malformed`);
      }
    }
    this.rng = rng;
    st.symbols.forEach((saved, i) => {
      const s = this.states[i]!;
      s.logPrice = saved.logPrice;
      s.regime = saved.regime;
      s.barsInRegime = saved.barsInRegime;
    });
    this.ts = st.nextTs;
    this.stepCount = st.steps;
  }

  get symbols(): readonly Symbol[] {
    return this.states.map((s) => s.symbol);
  }

  /** Open time of the next bar nextBars() will produce. */
  get nextTs(): number {
    return this.ts;
  }

  get steps(): number {
    return this.stepCount;
  }

  /** The regime the next bar of `sym` will be drawn from (ground truth for tests and diagnostics). */
  regimeOf(sym: string): RegimeName | undefined {
    for (const s of this.states) if (s.symbol === sym) return REGIME_NAMES[s.regime];
    return undefined;
  }

  currentRegimes(): Record<string, RegimeName> {
    const out: Record<string, RegimeName> = {};
    for (const s of this.states) out[s.symbol] = REGIME_NAMES[s.regime]!;
    return out;
  }

  /** One bar per symbol, all with the same open time, in the configured symbol order. */
  nextBars(): Bar[] {
    const out: Bar[] = new Array<Bar>(this.states.length);
    this.step(out, 0);
    return out;
  }

  /** `steps` steps, flattened (steps × symbols bars, time-ordered), for backtests. */
  generate(steps: number): Bar[] {
    const n = this.states.length;
    const out: Bar[] = new Array<Bar>(steps * n);
    for (let i = 0; i < steps; i++) this.step(out, i * n);
    return out;
  }

  /** Streams `steps` steps without building an array (very long backtests). */
  forEachBar(steps: number, fn: (bar: Bar) => void): void {
    const buf: Bar[] = new Array<Bar>(this.states.length);
    for (let i = 0; i < steps; i++) {
      this.step(buf, 0);
      for (const b of buf) fn(b);
    }
  }

  private step(out: Bar[], offset: number): void {
    const rng = this.rng;
    const common = rng.normal();
    const leader = this.states[0]!;
    for (let i = 0; i < this.states.length; i++) {
      const s = this.states[i]!;
      const r = this.regimes[s.regime]!;
      const sigma = r.sigma * s.volMultiplier;
      const shock = this.rho * common + this.idio * rng.normal();
      const x0 = s.logPrice;
      // Log-space step: prices stay positive whatever the draw.
      const x1 = x0 + r.drift * s.volMultiplier - this.kappa * (x0 - s.logAnchor) + sigma * shock;
      // Extremes of a Brownian bridge between x0 and x1: P(max − hi > h) solves
      // h(h + |x1 − x0|) = −σ² ln U / 2, exact for the continuous path and two draws per bar.
      const d = x1 > x0 ? x1 - x0 : x0 - x1;
      const c1 = (-sigma * sigma * Math.log(1 - rng.next())) / 2;
      const c2 = (-sigma * sigma * Math.log(1 - rng.next())) / 2;
      const up = (Math.sqrt(d * d + 4 * c1) - d) / 2;
      const down = (Math.sqrt(d * d + 4 * c2) - d) / 2;
      const hiX = (x1 > x0 ? x1 : x0) + up;
      const loX = (x1 < x0 ? x1 : x0) - down;
      const scale = s.priceScale;
      // Rounding is monotone, so low ≤ open, close ≤ high survives it.
      const open = Math.round(Math.exp(x0) * scale) / scale;
      const close = Math.round(Math.exp(x1) * scale) / scale;
      const high = Math.round(Math.exp(hiX) * scale) / scale;
      const low = Math.round(Math.exp(loX) * scale) / scale;
      // Volume follows the size of the move and the regime, as real activity does.
      const move = sigma > 0 ? d / sigma : 0;
      const volume = Math.round(s.baseVolume * r.spec.volumeMultiplier * (0.4 + 0.8 * rng.next()) * (0.6 + 0.5 * move) * 1e4) / 1e4;
      out[offset + i] = { symbol: s.symbol, ts: this.ts, open, high, low, close, volume };
      s.logPrice = x1;

      s.barsInRegime++;
      if (rng.next() < r.leaveProb) {
        const joinLeader = i > 0 && leader.regime !== s.regime && rng.next() < this.coupling;
        s.regime = joinLeader ? leader.regime : rng.categorical(r.spec.exitWeights);
        s.barsInRegime = 0;
      }
    }
    this.ts += this.intervalMs;
    this.stepCount++;
  }
}

export interface SyntheticFeedOptions {
  /** The generator, or options to build one. */
  readonly market: SyntheticMarket | SyntheticMarketOptions;
  /** Wall-clock time between emitted steps; default 1000 ms. May differ from the bar
   *  interval to replay e.g. one-minute bars once a second in a demo. */
  readonly emitEveryMs?: number;
}

/** Emits one step of bars (one per symbol) every emitEveryMs. */
export class SyntheticFeed implements BarFeed {
  readonly market: SyntheticMarket;
  private readonly emitEveryMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: SyntheticFeedOptions) {
    this.market = opts.market instanceof SyntheticMarket ? opts.market : new SyntheticMarket(opts.market);
    this.emitEveryMs = opts.emitEveryMs ?? 1000;
    if (!(this.emitEveryMs > 0)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `emitEveryMs must be positive, got ${this.emitEveryMs}`);
  }

  get running(): boolean {
    return this.timer !== null;
  }

  start(onBars: (bars: readonly Bar[]) => void): void {
    if (this.timer !== null) throw new Error('SyntheticFeed already started');
    this.timer = setInterval(() => onBars(this.market.nextBars()), this.emitEveryMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
