// A real engine over a real SQLite ledger (temp dir) and an in-memory sim venue, for tests.
// Every test that needs an engine takes it from here; a test that needs another venue (a
// flaky wrapper, the ccxt adapter), other limits or a logger of its own says so in the
// options, so the engine's wiring lives in one place.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx } from '../../src/core/decimal.js';
import { symbol } from '../../src/core/ids.js';
import type { Bar } from '../../src/core/marketData.js';
import { InProcessBus } from '../../src/bus/bus.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { Ledger } from '../../src/engine/ledger.js';
import { OrderLog } from '../../src/engine/orderLog.js';
import { type Logger, silentLogger } from '../../src/obs/logger.js';
import { SimVenue } from '../../src/venues/sim/simVenue.js';
import type { Venue } from '../../src/venues/venue.js';

export const BTC = symbol('BTCUSDT');
export const ETH = symbol('ETHUSDT');

export function bar(sym: typeof BTC, price: number, ts = 1_000, volume = 1_000): Bar {
  return { symbol: sym, ts, open: price, high: price, low: price, close: price, volume };
}

export interface EngineFixture<V extends Venue = SimVenue> {
  readonly dir: string;
  readonly engine: Engine;
  readonly venue: V;
  readonly ledger: Ledger;
  readonly bus: InProcessBus;
  readonly orderLogPath: string;
  close(): Promise<void>;
  reopen(): Promise<EngineFixture<V>>;
}

export interface EngineFixtureOptions<V extends Venue = SimVenue> {
  readonly dir?: string;
  readonly tradingEnabled?: boolean;
  readonly startStop?: EngineOptions['startStop'];
  readonly maxOrdersPerMin?: number;
  /** The venue, opened in the fixture's directory (default: the sim venue, BTC 60,000 and ETH
   *  3,000, one BTC and ten ETH per book level, 100,000 USDT). */
  readonly venue?: (dir: string) => V;
  readonly name?: string;
  /** Default 100000. */
  readonly startingCash?: string;
  /** Over the default limits (BTC and ETH, notional 10–50,000 USDT). */
  readonly limits?: Partial<EngineOptions['limits']>;
  /** Default `<dir>/portfolio.json`; null = none. */
  readonly snapshotPath?: string | null;
  readonly bus?: InProcessBus;
  readonly logger?: Logger;
  readonly metrics?: EngineOptions['metrics'];
  readonly reconcile?: EngineOptions['reconcile'];
  /** The root's storage health (util/storageHealth.ts): new orders are refused while it faults. */
  readonly storage?: EngineOptions['storage'];
  /** Where the engine keeps a stop it puts on itself (default none). */
  readonly stopFile?: string | null;
}

function simVenue(dir: string): SimVenue {
  const venue = new SimVenue({
    id: 'sim', startingBalances: { USDT: '100000' }, takerFeeBps: 10, makerFeeBps: 2, slippageBps: 1,
    book: { fixedLevelQty: { BTCUSDT: '1', ETHUSDT: '10' } }, statePath: join(dir, 'venue.sqlite'),
  });
  venue.onBar(bar(BTC, 60_000));
  venue.onBar(bar(ETH, 3_000));
  return venue;
}

export function engineFixture(opts?: EngineFixtureOptions): EngineFixture;
export function engineFixture<V extends Venue>(opts: EngineFixtureOptions<V> & { readonly venue: (dir: string) => V }): EngineFixture<V>;
export function engineFixture<V extends Venue>(opts: EngineFixtureOptions<V> = {}): EngineFixture<V> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'hmm-engine-'));
  const venue = opts.venue ? opts.venue(dir) : (simVenue(dir) as unknown as V);
  const ledger = new Ledger(join(dir, 'ledger.sqlite'));
  const orderLogPath = join(dir, 'orders.jsonl');
  const orderLog = new OrderLog(orderLogPath);
  const bus = opts.bus ?? new InProcessBus();
  const engine = new Engine({
    name: opts.name ?? 'engine_sim', venue, ledger, orderLog,
    snapshotPath: opts.snapshotPath === undefined ? join(dir, 'portfolio.json') : opts.snapshotPath, startingCash: fx(opts.startingCash ?? '100000'),
    limits: { tradeSymbols: new Set(['BTCUSDT', 'ETHUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('50000'), maxOrdersPerMin: opts.maxOrdersPerMin ?? 10_000, ...opts.limits },
    tradingEnabled: opts.tradingEnabled ?? true, ...(opts.startStop ? { startStop: opts.startStop } : {}), bus, logger: opts.logger ?? silentLogger(), metrics: opts.metrics ?? null,
    ...(opts.reconcile ? { reconcile: opts.reconcile } : {}),
    ...(opts.storage ? { storage: opts.storage } : {}),
    ...(opts.stopFile ? { stopFile: opts.stopFile } : {}),
  });
  const close = async () => {
    await engine.close();
    await venue.close();
    ledger.close();
    orderLog.close();
  };
  return {
    dir, engine, venue, ledger, bus, orderLogPath, close,
    async reopen() {
      await close();
      return engineFixture<V>({ ...opts, dir } as EngineFixtureOptions<V> & { readonly venue: (dir: string) => V });
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
