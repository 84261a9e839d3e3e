// One lost ledger commit on a real full disk, in its own process (test/integration/lostCommit.test.ts
// runs it under `unshare -rm` with a small tmpfs mounted at argv[2]): `node --import tsx
// test/support/lostCommitChild.ts <tmpfs dir>` prints what happened as one JSON line.
//
// The seam is the venue (the exchange is not on this disk: the sim venue keeps its books in
// memory): once armed, its submit fills the tmpfs right after it has taken the order, so the
// engine's intent-journal line is written (before the venue call) and its ledger commit (after
// it) meets a full disk. Nothing is timed: the commit is lost on every run. The engine, its
// SQLite ledger, journal and order log live on the tmpfs; the StorageWatch is the one every
// process runs, its probe driven by hand so the moment the fault clears is the test's.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fx, toDecimalString } from '../../src/core/decimal.js';
import type { ClientOrderId } from '../../src/core/ids.js';
import { InProcessBus } from '../../src/bus/bus.js';
import type { SubmitOutcome } from '../../src/engine/views.js';
import { silentLogger } from '../../src/obs/logger.js';
import { createMetrics } from '../../src/obs/metrics.js';
import { StorageWatch } from '../../src/app/storageWatch.js';
import { SimVenue } from '../../src/venues/sim/simVenue.js';
import type { VenueOrderRequest, VenueSubmitResult } from '../../src/venues/venue.js';
import { BTC, ETH, bar, engineFixture } from './engineFixture.js';

const root = process.argv[2];
if (!root) throw new Error('usage: lostCommitChild.ts <tmpfs dir>');
const FILL = join(root, 'fill');

/** Writes zeros into `FILL` until the filesystem refuses another byte (ENOSPC). */
function fillDisk(): number {
  const fd = openSync(FILL, 'a');
  let bytes = 0;
  try {
    for (const size of [1 << 20, 1 << 12, 1 << 9, 1]) {
      const buf = Buffer.alloc(size);
      for (;;) {
        try {
          bytes += writeSync(fd, buf);
        } catch (err) {
          if ((err as { code?: string }).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** The sim venue, counting what reaches it by client order id; once armed, it fills the disk
 *  right after taking an order (the seam between the journal line and the ledger commit). */
class DiskFillingVenue extends SimVenue {
  armed = false;
  readonly sent = new Map<string, number>();
  override submit(req: VenueOrderRequest): Promise<VenueSubmitResult> {
    this.sent.set(req.clientOrderId, (this.sent.get(req.clientOrderId) ?? 0) + 1);
    const result = super.submit(req);
    if (this.armed) {
      this.armed = false;
      fillDisk();
    }
    return result;
  }
}

const venue = new DiskFillingVenue({
  id: 'sim', startingBalances: { USDT: '100000' }, takerFeeBps: 10, makerFeeBps: 2, slippageBps: 1,
  book: { fixedLevelQty: { BTCUSDT: '1', ETHUSDT: '10' } },
});
venue.onBar(bar(BTC, 60_000));
venue.onBar(bar(ETH, 3_000));

const bus = new InProcessBus();
const metrics = createMetrics();
const log = silentLogger();
const watch = new StorageWatch({ root, minFreeBytes: 0, probeMs: 60_000, name: 'engine_sim', log, metrics, bus });
const fixture = engineFixture({ dir: join(root, 'engine'), venue: () => venue, storage: watch.health, bus, metrics, snapshotPath: null });
const { engine, ledger } = fixture;
watch.attach({ engines: [engine] });
const alerts: string[] = [];
bus.subscribe('alert', (a) => alerts.push(`${a.severity} ${a.title}`));

const buy = (id: string): Promise<SubmitOutcome> => engine.submit({ clientOrderId: id, symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null });
const answer = (o: SubmitOutcome) => ({ kind: o.kind, reason: o.kind === 'rejected' ? o.reason : null, message: o.kind === 'conflict' || o.kind === 'rejected' ? o.message : null });

// A disk with room: acknowledged, on record (the counterpart: no STORAGE refusal).
const before = answer(await buy('lc-before'));

// The lost commit: the venue takes the order, then the disk is full.
venue.armed = true;
const lost = answer(await buy('lc-lost'));
const whileFull = {
  fault: watch.health.fault?.code ?? null,
  ledgerHasLost: ledger.getOrder('lc-lost') !== undefined,
  venueHasLost: (await venue.fetchOrder('lc-lost' as ClientOrderId))?.status ?? null,
  journalNamesLost: readFileSync(join(root, 'engine/ledger.sqlite-intents'), 'utf8').includes('lc-lost'),
  // A client's retry of the lost order, and a new order, while the disk is full.
  retry: answer(await buy('lc-lost')),
  fresh: answer(await buy('lc-during')),
  metric: (await metrics.registry.getSingleMetricAsString('hmm_storage_fault')).split('\n').filter((l) => l.endsWith(' 1')),
};

// Free the disk; the probe clears the fault and the watch starts the resync. A retry in the same
// turn (before the books are rebuilt) must not reach the venue a second time.
unlinkSync(FILL);
watch.health.check();
const cleared = watch.health.fault === null;
const retryBeforeRebuild = answer(await buy('lc-lost'));
const recovered = await engine.resyncAfterStorageFault();
// The resync the watch started has run (a second call joins it or finds nothing left).
for (let i = 0; i < 100 && ledger.getOrder('lc-lost')?.order.status !== 'FILLED'; i++) await new Promise((r) => setTimeout(r, 20));
const retryAfter = answer(await buy('lc-lost'));
const after = answer(await buy('lc-after'));
await ledger.durable();

const stored = ledger.getOrder('lc-lost')?.order;
const venueFills = await venue.fetchFills('lc-lost' as ClientOrderId);
const p = engine.portfolioState();
const bal = venue.balances();
const result = {
  before, lost, whileFull, cleared, retryBeforeRebuild, recovered, retryAfter, after,
  ledgerLost: stored ? { status: stored.status, filledQty: toDecimalString(stored.filledQty) } : null,
  venueLost: await venue.fetchOrder('lc-lost' as ClientOrderId).then((o) => (o ? { status: o.status, filledQty: toDecimalString(o.filledQty) } : null)),
  ledgerTrades: ledger.fillsForOrder('lc-lost').map((f) => f.tradeId).sort(),
  venueTrades: venueFills.map((f) => f.tradeId).sort(),
  engineBtc: toDecimalString(p.positions.get(BTC)?.qty ?? fx(0)),
  venueBtc: toDecimalString(bal.get('BTC')?.total ?? fx(0)),
  engineCash: toDecimalString(p.cash),
  venueUsdt: toDecimalString(bal.get('USDT')?.total ?? fx(0)),
  sent: Object.fromEntries(venue.sent),
  ledgerOrders: ledger.counts().orders,
  consistency: ledger.consistencyProblems(),
  alerts,
};
watch.stop();
await fixture.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
