// Baum-Welch fitting: recovers a known model from its own samples, picks the true K by BIC,
// is reproducible for a seed, and degrades into a clear error or a sane model on bad data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/core/random.js';
import { GaussianHmm, type GaussianHmmParams } from '../../../src/strategy/hmm/gaussianHmm.js';
import { fitGaussianHmm } from '../../../src/strategy/hmm/baumWelch.js';
import { HmmError } from '../../../src/strategy/hmm/errors.js';

const truthDiag: GaussianHmmParams = {
  k: 3, d: 2, covarianceType: 'diag',
  startProb: Float64Array.of(1 / 3, 1 / 3, 1 / 3),
  transMat: Float64Array.of(0.95, 0.03, 0.02, 0.04, 0.9, 0.06, 0.05, 0.05, 0.9),
  means: Float64Array.of(-2, 0, 0, 3, 3, -1),
  covars: Float64Array.of(1, 0.5, 0.3, 1, 0.8, 0.8),
};
const truthFull: GaussianHmmParams = {
  ...truthDiag,
  covarianceType: 'full',
  covars: Float64Array.of(1, 0.3, 0.3, 0.5, 0.3, 0, 0, 1, 0.8, -0.4, -0.4, 0.8),
};

function permutations(k: number): number[][] {
  if (k === 1) return [[0]];
  return permutations(k - 1).flatMap((p) => Array.from({ length: k }, (_, i) => [...p.slice(0, i), k - 1, ...p.slice(i)]));
}

/** Fitted state order[i] corresponds to true state i (best permutation by mean distance). */
function matchStates(fit: GaussianHmm, truth: GaussianHmmParams): number[] {
  const { k, d } = truth;
  let best: number[] = [];
  let bestCost = Infinity;
  for (const perm of permutations(k)) {
    let cost = 0;
    for (let i = 0; i < k; i++) {
      for (let f = 0; f < d; f++) cost += (fit.params.means[perm[i]! * d + f]! - truth.means[i * d + f]!) ** 2;
    }
    if (cost < bestCost) { bestCost = cost; best = perm; }
  }
  return best;
}

for (const truth of [truthDiag, truthFull]) {
  test(`${truth.covarianceType}: fit recovers means, covariances and transitions of the generating model`, () => {
    const gen = new GaussianHmm(truth);
    const { obs } = gen.sample(20_000, new Rng(7));
    const fit = fitGaussianHmm(obs, { k: 3, covarianceType: truth.covarianceType, seed: 11, nInit: 3 });
    assert.ok(fit.converged);
    // EM maximises likelihood: the fit must score at least as well as the truth on its data.
    assert.ok(fit.logLikelihood >= gen.logLikelihood(obs));
    assert.ok(Math.abs(fit.logLikelihood - fit.model.logLikelihood(obs)) < 1e-6);
    const m = fit.model.permuteStates(matchStates(fit.model, truth)).params;
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(m.means[i]! - truth.means[i]!) < 0.08, `mean ${i}: ${m.means[i]} vs ${truth.means[i]}`);
    for (let i = 0; i < truth.covars.length; i++) {
      assert.ok(Math.abs(m.covars[i]! - truth.covars[i]!) < 0.1, `covar ${i}: ${m.covars[i]} vs ${truth.covars[i]}`);
    }
    for (let i = 0; i < 9; i++) {
      assert.ok(Math.abs(m.transMat[i]! - truth.transMat[i]!) < 0.02, `trans ${i}: ${m.transMat[i]} vs ${truth.transMat[i]}`);
    }
  });
}

test('BIC prefers the true number of states on well-separated data', () => {
  const truth = new GaussianHmm({
    k: 2, d: 2, covarianceType: 'diag',
    startProb: Float64Array.of(0.5, 0.5), transMat: Float64Array.of(0.95, 0.05, 0.1, 0.9),
    means: Float64Array.of(-3, 1, 3, -1), covars: Float64Array.of(1, 1, 1, 1),
  });
  const { obs } = truth.sample(3000, new Rng(21));
  const bic = [1, 2, 3].map((k) => fitGaussianHmm(obs, { k, seed: 5, nInit: 2 }).model.bic(obs));
  assert.ok(bic[1]! < bic[0]! && bic[1]! < bic[2]!, `BIC by K: ${bic.join(', ')}`);
});

test('parameter count distinguishes diag from full covariance', () => {
  const diag = new GaussianHmm(truthDiag);
  const full = new GaussianHmm(truthFull);
  // start 2 + transitions 6 + means 6 + covariances (6 diag | 3·3 full)
  assert.equal(diag.parameterCount(), 20);
  assert.equal(full.parameterCount(), 23);
});

test('a seed reproduces the fit exactly; restarts keep the best likelihood', () => {
  const { obs } = new GaussianHmm(truthDiag).sample(3000, new Rng(3));
  const a = fitGaussianHmm(obs, { k: 3, seed: 9, nInit: 3 });
  const b = fitGaussianHmm(obs, { k: 3, seed: 9, nInit: 3 });
  assert.deepEqual(a.model.params, b.model.params);
  assert.equal(a.logLikelihood, Math.max(...a.restarts.map((r) => r.logLikelihood)));
});

test('EM from fixed initial parameters never lowers the likelihood', () => {
  const { obs } = new GaussianHmm(truthFull).sample(2000, new Rng(8));
  let prev = -Infinity;
  for (const maxIter of [0, 1, 2, 5, 10]) {
    const fit = fitGaussianHmm(obs, { k: 3, init: truthFull, maxIter, tol: -Infinity });
    assert.equal(fit.iterations, maxIter);
    assert.ok(fit.logLikelihood >= prev - 1e-9, `${maxIter}: ${fit.logLikelihood} < ${prev}`);
    prev = fit.logLikelihood;
  }
});

test('number[][] input gives the same fit as flat Float64Array input', () => {
  const { obs } = new GaussianHmm(truthDiag).sample(500, new Rng(4));
  const rows = Array.from({ length: obs.n }, (_, t) => [obs.data[2 * t]!, obs.data[2 * t + 1]!]);
  const a = fitGaussianHmm(rows, { k: 3, seed: 1, nInit: 1 });
  const b = fitGaussianHmm(obs.data, { k: 3, d: 2, seed: 1, nInit: 1 });
  assert.deepEqual(a.model.params, b.model.params);
});

function assertSane(model: GaussianHmm, ll: number): void {
  assert.ok(Number.isFinite(ll), `log-likelihood ${ll}`);
  const { startProb, transMat, means, covars } = model.params;
  for (const a of [startProb, transMat, means, covars]) for (const v of a) assert.ok(Number.isFinite(v));
  for (const v of model.params.covars.filter((_, i) => model.covarianceType === 'diag' || (i % (model.d * model.d)) % (model.d + 1) === 0)) assert.ok(v > 0, `variance ${v}`);
}

test('constant series: a sane model with floored variance, not NaN', () => {
  for (const covarianceType of ['diag', 'full'] as const) {
    const rows = Array.from({ length: 300 }, () => [1.5, -2]);
    const fit = fitGaussianHmm(rows, { k: 2, covarianceType, seed: 1 });
    assertSane(fit.model, fit.logLikelihood);
    assert.ok(Math.abs(fit.model.params.means[0]! - 1.5) < 1e-12);
    assert.ok(Number.isFinite(fit.model.bic(rows)));
  }
});

test('more states than distinct points: a sane model', () => {
  const rows = Array.from({ length: 200 }, (_, t) => [t % 2 === 0 ? 0 : 5]);
  for (const covarianceType of ['diag', 'full'] as const) {
    const fit = fitGaussianHmm(rows, { k: 4, covarianceType, seed: 2 });
    assertSane(fit.model, fit.logLikelihood);
    const v = fit.model.viterbi(rows);
    assert.equal(v.path.length, 200);
    assert.ok(Number.isFinite(v.logProb));
  }
});

test('NaN or Infinity in the input is rejected naming the observation and feature', () => {
  const { obs } = new GaussianHmm(truthDiag).sample(50, new Rng(1));
  const bad = Float64Array.from(obs.data);
  bad[12 * 2] = NaN;
  assert.throws(() => fitGaussianHmm(bad, { k: 2, d: 2 }), (e: unknown) => e instanceof HmmError && /observation 12 feature 0 is NaN/.test(e.message));
  const inf = Float64Array.from(obs.data);
  inf[7 * 2 + 1] = -Infinity;
  assert.throws(() => new GaussianHmm(truthDiag).logLikelihood(inf), /observation 7 feature 1 is -Infinity/);
  assert.throws(() => new GaussianHmm(truthDiag).filter().update([0, Infinity]), /feature 1 is Infinity/);
});

test('too few observations, wrong shapes and invalid parameters are clear HmmErrors', () => {
  assert.throws(() => fitGaussianHmm([[1], [2]], { k: 3 }), /need at least 3 observations to fit 3 states, got 2/);
  assert.throws(() => fitGaussianHmm([[1]], { k: 1 }), /need at least 2 observations/);
  assert.throws(() => fitGaussianHmm([[1, 2], [3]], { k: 1 }), /observation 1 has 1 features, expected 2/);
  assert.throws(() => fitGaussianHmm(new Float64Array(5), { k: 1, d: 2 }), /not a multiple of the feature count 2/);
  assert.throws(() => new GaussianHmm({ ...truthDiag, transMat: Float64Array.of(0.5, 0.5, 0.5, 0, 1, 0, 0, 0, 1) }), /transMat row 0 sums to 1.5/);
  assert.throws(() => new GaussianHmm({ ...truthDiag, covars: Float64Array.of(1, 0, 1, 1, 1, 1) }), /variance of state 0 feature 1 is 0/);
  assert.throws(
    () => new GaussianHmm({ ...truthFull, covars: Float64Array.of(1, 2, 2, 1, 1, 0, 0, 1, 1, 0, 0, 1) }),
    (e: unknown) => e instanceof HmmError && /state 0 is not positive definite/.test(e.message),
  );
});
