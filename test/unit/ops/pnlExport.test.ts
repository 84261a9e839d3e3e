// `hmm export-pnl` (ops/pnlExport.ts) checked against an independent replay of the ledger:
// per model and symbol, the days' realized PnL and fees add up to the replay's totals, the
// close-of-day position and equity match, a fill booked late (by reconciliation) counts on
// its trade day, and re-running gives the same file byte for byte. The bytes themselves, the
// day-start equity (`hmm status`) and the daily PnL (Telegram) of the same ledger are pinned,
// so a change to the one fill replay they share shows at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Fixed, fx, mul, toDecimalString } from '../../../src/core/decimal.js';
import { clientOrderId, modelId, symbol, venueId, type Symbol } from '../../../src/core/ids.js';
import type { Fill, Order } from '../../../src/core/order.js';
import { replayFills, valuePortfolio } from '../../../src/core/portfolio.js';
import { Ledger } from '../../../src/engine/ledger.js';
import { stackPaths } from '../../../src/ops/paths.js';
import { PNL_CSV_HEADER, dayStartEquity, exportPnlCsv } from '../../../src/ops/pnlExport.js';
import { dailyPnlFromLedgers } from '../../../src/ops/dailyPnl.js';

const BTC = symbol('BTCUSDT');
const ETH = symbol('ETHUSDT');
const DAYS = ['2025-06-01', '2025-06-02', '2025-06-03'];
const at = (day: string, hh: number) => Date.parse(`${day}T${String(hh).padStart(2, '0')}:00:00Z`);

interface Spec { model: string | null; sym: Symbol; side: 'BUY' | 'SELL'; qty: string; price: string; ts: number }

const SPECS: Spec[] = [
  { model: 'ma', sym: BTC, side: 'BUY', qty: '0.5', price: '60000', ts: at(DAYS[0]!, 1) },
  { model: 'ma', sym: BTC, side: 'SELL', qty: '0.2', price: '61000', ts: at(DAYS[0]!, 5) },
  { model: 'hmm', sym: ETH, side: 'BUY', qty: '3', price: '3000', ts: at(DAYS[0]!, 6) },
  { model: 'ma', sym: BTC, side: 'BUY', qty: '0.1', price: '59000', ts: at(DAYS[1]!, 2) },
  { model: 'hmm', sym: ETH, side: 'SELL', qty: '1', price: '3100', ts: at(DAYS[1]!, 9) },
  { model: null, sym: BTC, side: 'BUY', qty: '0.05', price: '59500', ts: at(DAYS[1]!, 10) },
  { model: 'ma', sym: BTC, side: 'SELL', qty: '0.4', price: '62000', ts: at(DAYS[2]!, 3) },
  { model: 'hmm', sym: ETH, side: 'SELL', qty: '2', price: '2900', ts: at(DAYS[2]!, 4) },
  // Booked last (reconciliation after a restart) but traded on day 2.
  { model: 'hmm', sym: ETH, side: 'BUY', qty: '0.5', price: '3050', ts: at(DAYS[1]!, 11) },
];

function buildLedger(root: string): Fill[] {
  const l = new Ledger(stackPaths(root).ledger('engine_sim'));
  l.startingCash(fx('100000'));
  const fills: Fill[] = [];
  SPECS.forEach((s, i) => {
    const id = clientOrderId(`o${i}`);
    const o: Order = {
      clientOrderId: id, symbol: s.sym, side: s.side, type: 'MARKET', qty: fx(s.qty), price: null, timeInForce: 'IOC', model: s.model === null ? null : modelId(s.model),
      venue: venueId('sim'), status: 'FILLED', filledQty: fx(s.qty), filledNotional: mul(fx(s.qty), fx(s.price)), fees: fx('0'), venueOrderId: `v${i}`, rejectReason: null, createdAt: s.ts, updatedAt: s.ts,
    };
    l.insertOrder(o, 'h');
    const f: Fill = { tradeId: `t${i}`, clientOrderId: id, venue: venueId('sim'), symbol: s.sym, side: s.side, qty: fx(s.qty), price: fx(s.price), fee: mul(mul(fx(s.qty), fx(s.price)), fx('0.001')), liquidity: 'TAKER', model: o.model, ts: s.ts };
    l.insertFill(f);
    fills.push(f);
  });
  l.close();
  return fills;
}

interface Row { date: string; venue: string; model: string; symbol: string; realized: string; unrealized: string; fees: string; trades: number; equity: string }

function readCsv(path: string): Row[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(header, PNL_CSV_HEADER);
  return lines.map((l) => {
    const [date, venue, model, sym, realized, unrealized, fees, trades, equity] = l.split(',');
    return { date: date!, venue: venue!, model: model!, symbol: sym!, realized: realized!, unrealized: unrealized!, fees: fees!, trades: Number(trades), equity: equity! };
  });
}

test('the daily CSVs add up to a replay of the ledger, and re-running gives the same file', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-pnl-'));
  try {
    const fills = buildLedger(root);
    const paths = stackPaths(root);
    const ledgerFile = paths.ledger('engine_sim');
    const ledgerHash = createHash('sha256').update(readFileSync(ledgerFile)).digest('hex');
    const byDay = new Map<string, Row[]>();
    for (const day of DAYS) {
      const out = exportPnlCsv(paths, day);
      assert.equal(out.path, join(root, `ops/exports/pnl_${day}.csv`));
      const first = readFileSync(out.path);
      assert.deepEqual(readFileSync(exportPnlCsv(paths, day).path), first, 're-running gives the same bytes');
      byDay.set(day, readCsv(out.path));
    }
    assert.equal(createHash('sha256').update(readFileSync(ledgerFile)).digest('hex'), ledgerHash, 'the export never writes to the ledger');

    for (const [model, sym] of [['ma', BTC], ['hmm', ETH], ['manual', BTC]] as const) {
      const own = fills.filter((f) => (f.model ?? 'manual') === model && f.symbol === sym);
      const replay = replayFills(fx('0'), own); // ledger (booking) order, as the engine replays
      const rows = DAYS.map((d) => byDay.get(d)!.find((r) => r.model === model && r.symbol === sym));
      const sum = (k: 'realized' | 'fees') => rows.reduce((a, r) => (a + (r ? fx(r[k]) : 0n)) as Fixed, fx('0'));
      assert.equal(toDecimalString(sum('realized')), toDecimalString(replay.realizedPnl), `${model} ${sym} realized`);
      assert.equal(toDecimalString(sum('fees')), toDecimalString(replay.fees), `${model} ${sym} fees`);
      DAYS.forEach((d, i) => {
        const trades = own.filter((f) => toDay(f.ts) === d).length;
        assert.equal(rows[i]?.trades ?? 0, trades, `${model} ${sym} trades on ${d} (a late-booked fill counts on its trade day)`);
      });
      // Close of the last day: the position marked at the last traded price of the symbol.
      const pos = replay.positions.get(sym)!;
      const last = [...fills].filter((f) => f.symbol === sym).sort((a, b) => a.ts - b.ts).at(-1)!.price;
      const lastRow = rows[2];
      // ma/BTC ends flat (unrealized 0); hmm/ETH and manual/BTC end holding.
      assert.equal(lastRow!.unrealized, toDecimalString(mul(pos.qty, (last - pos.avgPrice) as Fixed)), `${model} ${sym} unrealized at the close (holding ${toDecimalString(pos.qty)})`);
    }
    // Equity at the close of day 2 = cash + positions at day-2 marks, from a replay of fills up to then.
    const upTo = fills.filter((f) => f.ts < at(DAYS[2]!, 0));
    const marks = new Map<string, { ts: number; price: Fixed }>();
    for (const f of upTo) if ((marks.get(f.symbol)?.ts ?? -1) <= f.ts) marks.set(f.symbol, { ts: f.ts, price: f.price });
    const equity = valuePortfolio(replayFills(fx('100000'), upTo), (s) => marks.get(s)?.price).equity;
    for (const r of byDay.get(DAYS[1]!)!) assert.equal(r.equity, equity.toFixed(2));
    // The late fill (day 2, booked after day 3's fills) moved day 2's numbers, not day 3's.
    assert.equal(byDay.get(DAYS[1]!)!.find((r) => r.model === 'hmm')!.trades, 2);
    assert.equal(byDay.get(DAYS[2]!)!.find((r) => r.model === 'hmm')!.trades, 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the export bytes, the day-start equity and the daily PnL of a known ledger are pinned', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-pnl-'));
  try {
    buildLedger(root);
    const paths = stackPaths(root);
    const csv = (day: string) => readFileSync(exportPnlCsv(paths, day).path, 'utf8');
    const H = PNL_CSV_HEADER;
    assert.equal(csv(DAYS[0]!), `${H}
2025-06-01,engine_sim,hmm,ETHUSDT,0,0,9,1,100448.80
2025-06-01,engine_sim,ma,BTCUSDT,200,300,42.2,2,100448.80
`);
    // Day 3's fills, booked before the late day-2 fill, are not in day 2's close.
    assert.equal(csv(DAYS[1]!), `${H}
2025-06-02,engine_sim,hmm,ETHUSDT,100,100,4.625,2,100235.30
2025-06-02,engine_sim,ma,BTCUSDT,0,-100,5.9,1,100235.30
2025-06-02,engine_sim,manual,BTCUSDT,0,0,2.975,1,100235.30
`);
    // A book without a trade on the day still shows while it holds a position (manual BTC).
    assert.equal(csv(DAYS[2]!), `${H}
2025-06-03,engine_sim,hmm,ETHUSDT,-200,-75,5.8,1,100954.70
2025-06-03,engine_sim,ma,BTCUSDT,900,0,24.8,1,100954.70
2025-06-03,engine_sim,manual,BTCUSDT,0,125,0,0,100954.70
`);
    // The day's start is the previous day's equity_at_close; the starting cash before any fill.
    const noon = (day: string) => Date.parse(`${day}T12:00:00Z`);
    assert.deepEqual([...DAYS, '2025-06-04'].map((d) => dayStartEquity(paths, noon(d))), [
      { engine_sim: 100000 }, { engine_sim: 100448.8 }, { engine_sim: 100235.3 }, { engine_sim: 100954.7 },
    ]);
    assert.deepEqual(dailyPnlFromLedgers(paths, null, noon('2025-06-04')), [
      { day: '2025-06-01', realized: 200, fees: 51.2, trades: 3 },
      { day: '2025-06-02', realized: 100, fees: 13.5, trades: 4 },
      { day: '2025-06-03', realized: 700, fees: 30.6, trades: 2 },
      { day: '2025-06-04', realized: 0, fees: 0, trades: 0 },
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a day without an engine ledger exports just the header; a bad date is refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-pnl-'));
  try {
    const out = exportPnlCsv(stackPaths(root), '2025-06-01');
    assert.equal(out.rows, 0);
    assert.equal(readFileSync(out.path, 'utf8'), `${PNL_CSV_HEADER}\n`);
    assert.throws(() => exportPnlCsv(stackPaths(root), '2025-13-40'), /date|no such date/);
    assert.throws(() => exportPnlCsv(stackPaths(root), 'yesterday'), /YYYY-MM-DD/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

function toDay(ts: number): string {
  return new Date(ts).toISOString().slice(0, 10);
}
