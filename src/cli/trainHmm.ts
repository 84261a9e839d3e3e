// `hmm train-hmm`: fits a Gaussian HMM to recorded bars (--csv) or synthetic history (--bars,
// --seed), saves it as the next version in <root>/ops/models/<id>/ (checksummed, atomic) with
// a sidecar naming its symbol, and prints the fit figures. The stack registers every stored
// version as a shadow model (at start, and within seconds while running), where the
// leaderboard and the canary rules judge it before it trades.
import { join } from 'node:path';
import { symbol as toSymbol, modelId } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import { readBarsCsv } from '../market/csvBars.js';
import { hmmModelId } from '../lifecycle/strategyRegistry.js';
import { HmmError } from '../strategy/hmm/errors.js';
import { warmupBars } from '../strategy/hmm/features.js';
import { syntheticHistory, trainAndSave } from '../strategy/hmm/trainingMeta.js';
import { CliError } from './opsClient.js';

export interface TrainHmmCliOptions {
  readonly csv?: string;
  readonly bars?: string;
  readonly seed?: string;
  readonly symbol?: string;
  readonly k?: string;
  readonly covariance?: string;
  readonly id?: string;
  readonly intervalMs?: string;
}

export function intOption(name: string, raw: string | undefined, dflt: number, lo: number, hi: number): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < lo || v > hi) throw new CliError(`--${name} must be an integer in [${lo}, ${hi}], got "${raw}"`, 2);
  return v;
}

export function symbolOption(raw: string): string {
  try {
    return toSymbol(raw.trim().toUpperCase());
  } catch {
    throw new CliError(`--symbol: "${raw}" is not a valid symbol (e.g. BTCUSDT)`, 2);
  }
}

/** Bars from --csv or synthetic --bars/--seed (exactly one source). */
export async function loadBarsOption(o: { csv?: string; bars?: string; seed?: string; symbol?: string; intervalMs?: string }, dfltIntervalMs: number, minBars: number): Promise<{ bars: Bar[]; source: 'csv' | 'synthetic'; detail: string; symbols: string[] }> {
  if ((o.csv === undefined) === (o.bars === undefined)) throw new CliError('give exactly one of --csv FILE or --bars N (with --seed S)', 2);
  if (o.csv !== undefined) {
    const r = await readBarsCsv(o.csv).catch((err: Error) => { throw new CliError(`--csv: cannot read ${o.csv}: ${err.message}`); });
    if (!r.ok) throw new CliError(`--csv: ${r.message}`);
    const symbols = [...new Set(r.bars.map((b) => b.symbol as string))];
    if (r.bars.length === 0) throw new CliError(`--csv: ${o.csv} has no bars`);
    return { bars: r.bars, source: 'csv', detail: o.csv, symbols };
  }
  const n = intOption('bars', o.bars, 0, minBars, 50_000_000);
  const seed = intOption('seed', o.seed, 1, -2_147_483_648, 2_147_483_647);
  const interval = intOption('interval-ms', o.intervalMs, dfltIntervalMs, 1, 86_400_000);
  const symbols = (o.symbol ?? 'BTCUSDT').split(',').map(symbolOption);
  const bars: Bar[] = [];
  if (symbols.length === 1) bars.push(...syntheticHistory(symbols[0]!, n, seed, interval));
  else {
    const { SyntheticMarket } = await import('../market/synthetic.js');
    bars.push(...new SyntheticMarket({ seed, symbols, intervalMs: interval, startTs: Date.UTC(2024, 0, 1) }).generate(n));
  }
  return { bars, source: 'synthetic', detail: `seed=${seed} interval_ms=${interval}`, symbols };
}

export async function trainHmmCommand(root: string, o: TrainHmmCliOptions): Promise<string> {
  const id = o.id ?? 'hmm_regime';
  try {
    modelId(id);
  } catch {
    throw new CliError(`--id: "${id}" is not a valid model id (letters, digits, . _ -)`, 2);
  }
  if (id === '.' || id === '..') throw new CliError(`--id: "${id}" is not a valid model id`, 2);
  const k = intOption('k', o.k, 4, 1, 12);
  const cov = o.covariance ?? 'diag';
  if (cov !== 'diag' && cov !== 'full') throw new CliError(`--covariance must be "diag" or "full", got "${cov}"`, 2);
  // The stack's feed interval by default: an HMM's volatility features scale with it.
  const dfltInterval = Number(process.env.MARKET_INTERVAL_MS) > 0 ? Number(process.env.MARKET_INTERVAL_MS) : 1000;
  const data = await loadBarsOption(o, dfltInterval, 100);
  const symbol = o.symbol !== undefined && o.csv !== undefined ? symbolOption(o.symbol) : data.symbols[0]!;
  if (!data.symbols.includes(symbol)) throw new CliError(`--symbol: ${symbol} is not in ${data.detail} (it has ${data.symbols.join(', ')})`, 2);
  const modelsDir = join(root, 'ops/models');
  let out;
  try {
    out = trainAndSave(modelsDir, data.bars, { id, symbol, source: data.source, detail: data.detail, k, covarianceType: cov });
  } catch (err) {
    if (err instanceof HmmError) throw new CliError(`training failed: ${err.message}`);
    throw err;
  }
  const m = out.model;
  const d = m.d;
  const means = Array.from({ length: m.k }, (_, s) => m.params.means.slice(s * d, s * d + d).map((x) => x.toFixed(3)).join(', '));
  const rows = out.meta.bars - warmupBars(m.features.spec) + 1;
  const lines = [
    `trained ${m.id} v${m.version}: ${m.k} regimes, ${m.covarianceType} covariance, features ${m.features.names.join(', ')}`,
    `  data          ${out.meta.bars.toLocaleString('en-US')} ${symbol} bars (${data.source}: ${data.detail})`,
    `  fit           ${out.seconds.toFixed(3)} s, ${m.fit.iterations} EM iterations, ${m.fit.converged ? 'converged' : 'NOT converged (maxIter reached)'}`,
    `  log-likelihood ${m.fit.logLikelihood.toFixed(3)} (${(m.fit.logLikelihood / Math.max(1, rows)).toFixed(4)} per bar), BIC ${m.fit.bic.toFixed(1)}`,
    ...means.map((s, i) => `  regime ${i}      mean [${s}] (standardised; 0 = most bearish)`),
    `  saved         ${out.path}`,
    `  registry      runs as shadow model ${hmmModelId(m.id, m.version)} (registered at the next start, or within 10 s by a running stack)`,
  ];
  return lines.join('\n');
}
