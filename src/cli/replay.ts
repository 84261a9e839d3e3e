// `hmm replay`: the whole embedded stack over recorded (--csv) or synthetic (--bars N --seed S
// --drift D) bars on a simulated clock, in a fresh folder (--out), as fast as the CPU allows,
// under the shipped policies or an ops/policies.yaml of the operator's (--policies FILE);
// prints the summary and leaves the live artefacts plus replay/report.json in that folder.
import { readFileSync } from 'node:fs';
import { readBarsCsv } from '../market/csvBars.js';
import { ReplayError, formatReplay, runReplay } from '../replay/replay.js';
import { CliError } from './opsClient.js';
import { intOption } from './trainHmm.js';

export async function replayCommand(o: { out?: string; csv?: string; bars?: string; seed?: string; drift?: string; policies?: string }): Promise<string> {
  if (o.out === undefined) throw new CliError('--out DIR is required: a replay runs in a fresh folder, never in a root that has state', 2);
  if ((o.csv === undefined) === (o.bars === undefined)) throw new CliError('give exactly one of --csv FILE or --bars N (with --seed S and --drift D)', 2);
  // The stack's other settings (TRADE_SYMBOLS, BAR_INTERVAL_MS, WARMUP_BARS, ...) come from the environment, as for `hmm up`.
  const env = { ...process.env };
  let policies: string | undefined;
  if (o.policies !== undefined) {
    try {
      policies = readFileSync(o.policies, 'utf8');
    } catch (err) {
      throw new CliError(`--policies: cannot read ${o.policies}: ${(err as Error).message}`, 2);
    }
  }
  try {
    if (o.csv !== undefined) {
      const r = await readBarsCsv(o.csv).catch((err: Error) => { throw new CliError(`--csv: cannot read ${o.csv}: ${err.message}`); });
      if (!r.ok) throw new CliError(`--csv: ${r.message}`);
      const symbols = [...new Set(r.bars.map((b) => b.symbol as string))];
      return formatReplay(await runReplay({ root: o.out, bars: r.bars, env: { ...env, TRADE_SYMBOLS: symbols.join(',') }, policies }));
    }
    const steps = intOption('bars', o.bars, 0, 1, 50_000_000);
    const seed = intOption('seed', o.seed, 1, -2_147_483_648, 2_147_483_647);
    const drift = Number(o.drift ?? '1');
    if (!(drift >= 0 && drift <= 100)) throw new CliError(`--drift: expected a number in [0, 100], got ${o.drift}`, 2);
    return formatReplay(await runReplay({ root: o.out, synthetic: { seed, drift, steps }, env, policies }));
  } catch (err) {
    if (err instanceof ReplayError) throw new CliError(err.message, 2);
    throw err;
  }
}
