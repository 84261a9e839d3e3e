// A real engine over a real SQLite ledger (temp dir) and an in-memory sim venue, for tests.
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
import { silentLogger } from '../../src/obs/logger.js';
import { SimVenue } from '../../src/venues/sim/simVenue.js';

export const BTC = symbol('BTCUSDT');
export const ETH = symbol('ETHUSDT');

export function bar(sym: typeof BTC, price: number, ts = 1_000, volume = 1_000): Bar {
  return { symbol: sym, ts, open: price, high: price, low: price, close: price, volume };
}

export interface EngineFixture {
  readonly dir: string;
  readonly engine: Engine;
  readonly venue: SimVenue;
  readonly ledger: Ledger;
  readonly bus: InProcessBus;
  readonly orderLogPath: string;
  close(): Promise<void>;
  reopen(): Promise<EngineFixture>;
}

export function engineFixture(opts: { dir?: string; tradingEnabled?: boolean; startStop?: EngineOptions['startStop']; maxOrdersPerMin?: number } = {}): EngineFixture {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'hmm-engine-'));
  const venue = new SimVenue({
    id: 'sim', startingBalances: { USDT: '100000' }, takerFeeBps: 10, makerFeeBps: 2, slippageBps: 1,
    book: { fixedLevelQty: { BTCUSDT: '1', ETHUSDT: '10' } }, statePath: join(dir, 'venue.sqlite'),
  });
  venue.onBar(bar(BTC, 60_000));
  venue.onBar(bar(ETH, 3_000));
  const ledger = new Ledger(join(dir, 'ledger.sqlite'));
  const orderLogPath = join(dir, 'orders.jsonl');
  const orderLog = new OrderLog(orderLogPath);
  const bus = new InProcessBus();
  const engine = new Engine({
    name: 'engine_sim', venue, ledger, orderLog, snapshotPath: join(dir, 'portfolio.json'), startingCash: fx('100000'),
    limits: { tradeSymbols: new Set(['BTCUSDT', 'ETHUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('50000'), maxOrdersPerMin: opts.maxOrdersPerMin ?? 10_000 },
    tradingEnabled: opts.tradingEnabled ?? true, ...(opts.startStop ? { startStop: opts.startStop } : {}), bus, logger: silentLogger(), metrics: null,
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
      return engineFixture({ ...opts, dir });
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
