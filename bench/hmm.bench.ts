// Benchmarks the HMM hot paths: Baum-Welch on 100,000 observations (3 states, 2 features,
// fixed initial parameters and iteration count, so runs are comparable across machines and
// against pomegranate) and online filter throughput. Run: npx tsx bench/hmm.bench.ts
//
// `--fit [--rounds 5] [--seeds 1,2,3]`: instead, the stack's own fit (trainHmmFromBars, as its
// first-start fit and each walk-forward refit call it: 4 regimes × 3 diag features, 4 restarts)
// on a week (10,080 one-minute bars) of BTCUSDT from the synthetic market, drift ×3, one fit per
// seed; CPU time (process.cpuUsage) per fit, best of `rounds`. `--rounds 0` generates the bars
// and fits nothing: under `valgrind --tool=callgrind`, the difference between `--rounds 1
// --seeds 1` and `--rounds 0 --seeds 1` is one (cold) fit's instruction count.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/core/random.js';
import { fitGaussianHmm } from '../src/strategy/hmm/baumWelch.js';
import { GaussianHmm, type CovarianceType, type GaussianHmmParams } from '../src/strategy/hmm/gaussianHmm.js';

const args = process.argv.slice(2);
if (args.includes('--fit')) {
  const { SyntheticMarket } = await import('../src/market/synthetic.js');
  const { trainHmmFromBars } = await import('../src/strategy/hmm/hmmModel.js');
  const at = args.indexOf('--rounds');
  const rounds = at >= 0 ? Number(args[at + 1]) : 5;
  const seeds = (args.includes('--seeds') ? args[args.indexOf('--seeds') + 1]! : '1,2,3').split(',').map(Number);
  if (!(Number.isInteger(rounds) && rounds >= 0) || seeds.some((s) => !Number.isInteger(s))) throw new Error('--rounds takes an integer ≥ 0, --seeds integers separated by commas');
  const week = seeds.map((seed) => new SyntheticMarket({ seed, symbols: ['BTCUSDT', 'ETHUSDT'], intervalMs: 60_000, driftScale: 3 }).generate(10_080).filter((b) => b.symbol === 'BTCUSDT'));
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const best = seeds.map(() => Infinity);
  let ll = '';
  for (let round = 0; round < rounds; round++) {
    ll = '';
    week.forEach((bars, i) => {
      const c0 = cpuMs();
      const model = trainHmmFromBars(bars, { id: `bench_${seeds[i]}`, covarianceType: 'diag' });
      best[i] = Math.min(best[i]!, cpuMs() - c0);
      ll += ` ${model.fit.logLikelihood.toFixed(3)}`;
    });
  }
  if (rounds > 0) {
    const sum = best.reduce((a, b) => a + b, 0);
    console.log(`HMM fit as the stack trains it (4 regimes × 3 diag features, 4 restarts), ${week[0]!.length.toLocaleString('en-US')} bars each, seeds ${seeds.join(', ')} drift ×3, best of ${rounds}: ` +
      `${best.map((ms) => `${ms.toFixed(0)} ms`).join(' / ')} CPU (${(sum / 1000).toFixed(3)} s for the ${seeds.length}); log-likelihoods${ll}`);
  } else console.log(`bars generated for seeds ${seeds.join(', ')}, nothing fitted (the callgrind baseline)`);
  process.exit(0);
}

const N = 100_000;
const ITERATIONS = 20;
const FILTER_UPDATES = 2_000_000;

const truth = new GaussianHmm({
  k: 3, d: 2, covarianceType: 'full',
  startProb: Float64Array.of(1 / 3, 1 / 3, 1 / 3),
  transMat: Float64Array.of(0.97, 0.02, 0.01, 0.03, 0.94, 0.03, 0.02, 0.04, 0.94),
  means: Float64Array.of(0.8, -0.6, 0, 0, -1.5, 1.4),
  covars: Float64Array.of(0.5, 0.1, 0.1, 0.4, 1, -0.2, -0.2, 0.8, 2.5, 0.6, 0.6, 2),
});
const { obs } = truth.sample(N, new Rng(2024));

/** Deliberately off: means shifted, unit covariances, uniform-ish transitions. */
function initial(covarianceType: CovarianceType): GaussianHmmParams {
  return {
    k: 3, d: 2, covarianceType,
    startProb: Float64Array.of(1 / 3, 1 / 3, 1 / 3),
    transMat: Float64Array.of(0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8),
    means: Float64Array.of(1, -1, 0, 0.5, -1, 1),
    covars: covarianceType === 'diag' ? new Float64Array(6).fill(1) : Float64Array.of(1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1),
  };
}

interface FitFigure { seconds: number; logLikelihood: number }

function ourFit(covarianceType: CovarianceType): FitFigure {
  let best = Infinity;
  let ll = NaN;
  // Best of three: the first run also pays for JIT warm-up.
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    // A negligible floor so the comparison is of the same EM (pomegranate adds none).
    const fit = fitGaussianHmm(obs, { k: 3, init: initial(covarianceType), maxIter: ITERATIONS, tol: -Infinity, covarFloor: 1e-12, minCovar: 1e-12 });
    best = Math.min(best, (performance.now() - t0) / 1000);
    ll = fit.logLikelihood;
  }
  return { seconds: best, logLikelihood: ll };
}

function pomegranateFit(covarianceType: CovarianceType): FitFigure | string {
  const py = '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import pomegranate'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'pomegranate not available (apt-get install python3-pomegranate to compare)';
  const dir = mkdtempSync(join(tmpdir(), 'hmm-bench-'));
  try {
    const init = initial(covarianceType);
    const job = join(dir, 'job.json');
    writeFileSync(job, JSON.stringify({
      n: obs.n, d: obs.d, k: 3, covarianceType, iterations: ITERATIONS, obs: Array.from(obs.data),
      startProb: Array.from(init.startProb), transMat: Array.from(init.transMat),
      means: Array.from(init.means), covars: Array.from(init.covars),
    }));
    const script = join(dirname(fileURLToPath(import.meta.url)), 'hmm_pomegranate.py');
    const run = spawnSync(py, [script, job], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (run.status !== 0) return `pomegranate run failed: ${run.stderr.trim().split('\n').at(-1)}`;
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { fitSeconds: number; logLikelihood: number };
    return { seconds: out.fitSeconds, logLikelihood: out.logLikelihood };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function filterRate(covarianceType: CovarianceType): number {
  const hmm = new GaussianHmm({ ...initial(covarianceType), covars: covarianceType === 'diag' ? Float64Array.of(0.5, 0.4, 1, 0.8, 2.5, 2) : truth.params.covars });
  const f = hmm.filter();
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < FILTER_UPDATES; i++) sink += f.updateAt(obs.data, (i % N) * 2)[0]!;
  const secs = (performance.now() - t0) / 1000;
  if (!Number.isFinite(sink)) throw new Error('filter produced a non-finite posterior');
  return FILTER_UPDATES / secs;
}

console.log(`HMM benchmark: ${N.toLocaleString('en-US')} observations, 3 states, 2 features, ${ITERATIONS} Baum-Welch iterations from fixed initial parameters`);
console.log(`true-model log-likelihood: ${truth.logLikelihood(obs).toFixed(3)}`);
for (const covarianceType of ['diag', 'full'] as const) {
  const ours = ourFit(covarianceType);
  const pom = pomegranateFit(covarianceType);
  console.log(`\n[${covarianceType}]`);
  console.log(`  hmm-stack   fit ${(ours.seconds * 1000).toFixed(1).padStart(8)} ms   log-likelihood ${ours.logLikelihood.toFixed(3)}`);
  if (typeof pom === 'string') console.log(`  pomegranate ${pom}`);
  else {
    console.log(`  pomegranate fit ${(pom.seconds * 1000).toFixed(1).padStart(8)} ms   log-likelihood ${pom.logLikelihood.toFixed(3)}`);
    console.log(`  speed-up ×${(pom.seconds / ours.seconds).toFixed(1)}, log-likelihood difference ${(ours.logLikelihood - pom.logLikelihood).toExponential(2)}`);
  }
  console.log(`  online filter ${Math.round(filterRate(covarianceType)).toLocaleString('en-US')} updates/s`);
}
