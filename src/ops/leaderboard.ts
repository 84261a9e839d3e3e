// The leaderboard: models ranked by net PnL from their own books at each engine (realized
// + unrealized − fees), best first, so leaderboard[0] is the current leader.
import type { OpsContext } from './context.js';
import { stageOf } from './context.js';

export interface LeaderboardRow {
  readonly rank: number;
  readonly model: string;
  readonly stage: string;
  readonly weight: number;
  readonly capital_quota_usd: number;
  readonly pnl: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  readonly exposure_usd: number;
  readonly score: number;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

export async function buildLeaderboard(ctx: OpsContext): Promise<LeaderboardRow[]> {
  const acc = new Map<string, { realized: number; unrealized: number; fees: number; exposure: number }>();
  for (const m of ctx.models()) acc.set(m.id, { realized: 0, unrealized: 0, fees: 0, exposure: 0 });
  for (const e of ctx.engines()) {
    const positions = await e.modelPositions();
    for (const p of positions) {
      const a = acc.get(p.model) ?? { realized: 0, unrealized: 0, fees: 0, exposure: 0 };
      const qty = Number(p.qty);
      const last = await e.lastPrice(p.symbol);
      const mark = last === null ? Number(p.avgPrice) : Number(last);
      a.realized += Number(p.realizedPnl);
      a.fees += Number(p.fees);
      a.unrealized += qty * (mark - Number(p.avgPrice));
      a.exposure += Math.abs(qty * mark);
      acc.set(p.model, a);
    }
  }
  const weights = ctx.weights.current.weights;
  const rows = [...acc.entries()].map(([model, a]) => {
    const pnl = a.realized + a.unrealized - a.fees;
    return {
      model, stage: stageOf(weights[model] ?? 0), weight: weights[model] ?? 0, capital_quota_usd: ctx.allocator.quota(model),
      pnl: r2(pnl), realized_pnl: r2(a.realized), unrealized_pnl: r2(a.unrealized), fees: r2(a.fees), exposure_usd: r2(a.exposure), score: r2(pnl),
    };
  });
  rows.sort((x, y) => y.score - x.score || x.model.localeCompare(y.model));
  return rows.map((r, i) => ({ rank: i + 1, ...r }));
}
