// Telegram's /positions answers with GET /positions's rows (modelPositionRows): the same marks —
// a position without a last price at its average, as the force-exit route values it — the same
// rounding and the same order (largest value first), across engines. Engines are small fakes
// behind EngineHandle; /positions reads nothing else of the operator's services.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineHandle } from '../../../src/engine/engineHandle.js';
import type { ModelPositionView } from '../../../src/engine/views.js';
import { modelPositionRows } from '../../../src/ops/routes/trading.js';
import { fmt } from '../../../src/ops/telegram/commands.js';
import { type TelegramOperatorDeps, telegramOperator } from '../../../src/ops/telegram/operator.js';

function engine(name: string, positions: ModelPositionView[], last: Record<string, string>): EngineHandle {
  return { name, modelPositions: async () => positions, lastPrice: async (s: string) => last[s] ?? null } as unknown as EngineHandle;
}

/** The body lines of a reply's table, split into cells (the head line dropped). */
function tableRows(reply: string): string[][] {
  const body = /<pre>([\s\S]*)<\/pre>/.exec(reply)?.[1] ?? '';
  return body.split('\n').slice(1).map((l) => l.trim().split(/\s+/));
}

test('/positions shows the Ops API\'s rows: same numbers, same order, an unpriced position marked at its average', async () => {
  const engines = [
    engine('engine_a', [
      { model: 'hmm_v1', symbol: 'BTCUSDT', qty: '0.00412', avgPrice: '61234.567', realizedPnl: '3.456', fees: '0.123' },
      { model: 'hmm_v2', symbol: 'BTCUSDT', qty: '0', avgPrice: '0', realizedPnl: '1', fees: '0' },
    ], { BTCUSDT: '61190.01' }),
    engine('engine_b', [{ model: 'hmm_v2', symbol: 'SOLUSDT', qty: '3.3333', avgPrice: '145.555', realizedPnl: '0', fees: '0.01' }], {}),
  ];
  const reply = await telegramOperator({ engines: () => engines } as unknown as TelegramOperatorDeps).read('positions', null);

  const api = await modelPositionRows(engines);
  assert.equal(api.length, 2, 'the flat position is not a row');
  assert.equal(api[0]!.model, 'hmm_v2', 'SOL, worth more, comes first');
  assert.equal(api[0]!.last_price, null);
  assert.deepEqual(tableRows(reply), api.map((r) => [r.model, r.symbol, fmt(r.qty), fmt(r.avg_price), r.last_price === null ? '-' : fmt(r.last_price), fmt(r.value_usd), fmt(r.unrealized_pnl)]));
  assert.match(reply, /hmm_v2\s+SOLUSDT\s+3\.33\s+145\.56\s+-\s+485\.18\s+0\.00/, 'marked at its average: a value, no unrealized PnL');
});

test('/positions with nothing held says so', async () => {
  const engines = [engine('engine_a', [{ model: 'hmm_v1', symbol: 'BTCUSDT', qty: '0', avgPrice: '0', realizedPnl: '0', fees: '0' }], {})];
  const reply = await telegramOperator({ engines: () => engines } as unknown as TelegramOperatorDeps).read('positions', null);
  assert.match(reply, /<b>Positions<\/b>\n<pre>no open position<\/pre>/);
});
