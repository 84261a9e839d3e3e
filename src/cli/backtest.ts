// `hmm backtest`: runs the MA crossover, an HMM or their ensemble over recorded (--csv) or
// synthetic (--bars/--seed) bars through the live execution path (src/backtest), prints the
// report and writes report.json and equity.csv. An HMM is trained on the first --train-frac
// of each symbol's bars and traded on the rest (out of sample), unless --hmm-model names a
// stored version in <root>/ops/models.
import { join } from 'node:path';
import { modelId, symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import { runBacktest } from '../replay/backtest.js';
import { labelRegimes, summariseRegimes } from '../strategy/hmm/regimeLabels.js';
import { formatReport, writeBacktestFiles } from '../replay/report.js';
import { EnsembleModel } from '../strategy/ensemble/ensemble.js';
import { HmmError } from '../strategy/hmm/errors.js';
import { HmmModel, trainHmmFromBars } from '../strategy/hmm/hmmModel.js';
import { loadHmmModel, loadLatestHmmModel, type StoredHmmModel } from '../strategy/hmm/modelStore.js';
import { DEFAULT_MA_CONFIG, MaCrossoverModel } from '../strategy/ma/maCrossover.js';
import type { Model } from '../strategy/model.js';
import { CliError } from './opsClient.js';
import { intOption, loadBarsOption } from './trainHmm.js';

export interface BacktestCliOptions {
  readonly model?: string;
  readonly csv?: string;
  readonly bars?: string;
  readonly seed?: string;
  readonly symbol?: string;
  readonly intervalMs?: string;
  readonly out?: string;
  readonly trainFrac?: string;
  readonly hmmModel?: string;
  readonly cash?: string;
  readonly fast?: string;
  readonly slow?: string;
}

function storedHmm(root: string, spec: string): StoredHmmModel {
  const m = /^([A-Za-z0-9._-]+?)(?:@v?(\d+))?$/.exec(spec);
  if (!m) throw new CliError(`--hmm-model must be ID or ID@VERSION, got "${spec}"`, 2);
  const dir = join(root, 'ops/models');
  try {
    return m[2] === undefined ? loadLatestHmmModel(dir, m[1]!) : loadHmmModel(dir, m[1]!, Number(m[2]));
  } catch (err) {
    if (err instanceof HmmError) throw new CliError(`--hmm-model: ${err.message}`);
    throw err;
  }
}

export async function backtestCommand(root: string, o: BacktestCliOptions): Promise<string> {
  const kind = o.model ?? 'ma';
  if (!['ma', 'hmm', 'ensemble'].includes(kind)) throw new CliError(`--model must be ma, hmm or ensemble, got "${kind}"`, 2);
  const data = await loadBarsOption(o, 60_000, 50);
  let bars: readonly Bar[] = data.bars;
  const symbols = data.symbols.map(toSymbol);
  const notes: string[] = [];

  let cash = '10000';
  if (o.cash !== undefined) {
    if (!/^\d+(\.\d{1,8})?$/.test(o.cash) || Number(o.cash) <= 0) throw new CliError(`--cash must be a positive amount, got "${o.cash}"`, 2);
    cash = o.cash;
  }
  const fast = intOption('fast', o.fast, DEFAULT_MA_CONFIG.fast, 1, 10_000);
  const slow = intOption('slow', o.slow, DEFAULT_MA_CONFIG.slow, 2, 100_000);
  if (slow <= fast) throw new CliError(`--slow (${slow}) must be greater than --fast (${fast})`, 2);
  const ma = () => new MaCrossoverModel(modelId('ma_crossover_bt'), symbols, { ...DEFAULT_MA_CONFIG, fast, slow });

  let hmm: (() => HmmModel) | null = null;
  let regimeStored: StoredHmmModel | null = null; // for the report's Viterbi regime labels
  if (kind !== 'ma') {
    const hmmSymbol = symbols[0]!;
    let stored: StoredHmmModel;
    if (o.hmmModel !== undefined) {
      stored = storedHmm(root, o.hmmModel);
      notes.push(`HMM ${stored.id} v${stored.version} from ${join(root, 'ops/models')}`);
    } else {
      const frac = o.trainFrac === undefined ? 0.3 : Number(o.trainFrac);
      if (!(frac > 0 && frac < 1)) throw new CliError(`--train-frac must be a number in (0, 1), got "${o.trainFrac}"`, 2);
      const timestamps = [...new Set(bars.map((b) => b.ts))];
      const cut = timestamps[Math.floor(timestamps.length * frac)]!;
      const train = bars.filter((b) => b.ts < cut && b.symbol === hmmSymbol);
      try {
        const t0 = performance.now();
        stored = trainHmmFromBars(train, { id: 'hmm_backtest' });
        notes.push(`HMM trained on the first ${train.length.toLocaleString('en-US')} ${hmmSymbol} bars in ${((performance.now() - t0) / 1000).toFixed(2)} s (log-likelihood ${stored.fit.logLikelihood.toFixed(1)}); traded out of sample from ${new Date(cut).toISOString()}`);
      } catch (err) {
        if (err instanceof HmmError) throw new CliError(`training the HMM failed: ${err.message}`);
        throw err;
      }
      bars = bars.filter((b) => b.ts >= cut);
    }
    const s = stored;
    regimeStored = s;
    hmm = () => new HmmModel(s, { symbol: hmmSymbol, id: modelId('hmm_bt') });
  }

  let model: Model;
  if (kind === 'ma') model = ma();
  else if (kind === 'hmm') model = hmm!();
  else model = new EnsembleModel(modelId('ensemble_bt'), [{ model: ma(), weight: 1 }, { model: hmm!(), weight: 1 }]);

  const result = await runBacktest({ model, bars, startingCash: cash });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const outDir = o.out ?? join(root, 'backtests', `${kind}-${stamp}`);
  // The HMM's most likely regime path over the traded bars (Viterbi): how the bars split into
  // regimes and whether each regime's bars moved as its rank says.
  let regimes: ReturnType<typeof summariseRegimes> | null = null;
  if (regimeStored !== null) {
    const own = bars.filter((b) => b.symbol === symbols[0]);
    regimes = summariseRegimes(labelRegimes(regimeStored, own), own, regimeStored.k);
    for (const r of regimes.regimes) notes.push(`regime ${r.regime} of ${regimeStored.k} (Viterbi): ${r.share_pct.toFixed(1)} % of bars in ${r.spells} spells (mean ${r.mean_spell_bars.toFixed(0)} bars), mean return ${r.mean_return_bp.toFixed(2)} bp/bar`);
  }
  const files = writeBacktestFiles(outDir, result, {
    model: kind, source: data.source, detail: data.detail, notes,
    ...(regimes !== null ? { regimes: { summary: regimes.regimes, spells: regimes.spells.slice(-500) } } : {}),
  });
  return [
    `backtest of ${kind} on ${data.source} bars (${data.detail})`,
    ...notes.map((n) => `  note: ${n}`),
    formatReport(result.report),
    `  wrote ${files.json}`,
    `  wrote ${files.csv}`,
  ].join('\n');
}
