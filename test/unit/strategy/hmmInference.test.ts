// Inference against first principles: likelihood and Viterbi by enumerating every state
// path, the online filter against the batch forward pass, and stability on a long series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/core/random.js';
import { GaussianHmm, type GaussianHmmParams } from '../../../src/strategy/hmm/gaussianHmm.js';
import { forwardPass, forwardWorkspace } from '../../../src/strategy/hmm/forwardBackward.js';
import { emissionMatrix } from '../../../src/strategy/hmm/emissions.js';

const diag3: GaussianHmmParams = {
  k: 3, d: 2, covarianceType: 'diag',
  startProb: Float64Array.of(0.5, 0.3, 0.2),
  transMat: Float64Array.of(0.8, 0.15, 0.05, 0.1, 0.7, 0.2, 0.25, 0.25, 0.5),
  means: Float64Array.of(-1, 0.5, 0.2, -0.4, 1.3, 1.1),
  covars: Float64Array.of(0.6, 1.2, 0.4, 0.9, 1.5, 0.3),
};
const full3: GaussianHmmParams = {
  ...diag3,
  covarianceType: 'full',
  covars: Float64Array.of(0.6, 0.3, 0.3, 1.2, 0.4, -0.2, -0.2, 0.9, 1.5, 0.1, 0.1, 0.3),
};

/** Independent density: explicit 2×2 inverse and determinant, no shared code. */
function logDensity(p: GaussianHmmParams, s: number, x0: number, x1: number): number {
  const m0 = p.means[s * 2]!, m1 = p.means[s * 2 + 1]!;
  let a: number, b: number, c: number;
  if (p.covarianceType === 'diag') { a = p.covars[s * 2]!; b = 0; c = p.covars[s * 2 + 1]!; }
  else { a = p.covars[s * 4]!; b = p.covars[s * 4 + 1]!; c = p.covars[s * 4 + 3]!; }
  const det = a * c - b * b;
  const z0 = x0 - m0, z1 = x1 - m1;
  const q = (c * z0 * z0 - 2 * b * z0 * z1 + a * z1 * z1) / det;
  return -Math.log(2 * Math.PI) - 0.5 * Math.log(det) - 0.5 * q;
}

/** Every one of K^T paths: their log joint probabilities, in path-index order. */
function enumeratePaths(p: GaussianHmmParams, x: Float64Array, T: number): { path: number[]; logP: number }[] {
  const out: { path: number[]; logP: number }[] = [];
  const total = p.k ** T;
  for (let code = 0; code < total; code++) {
    const path: number[] = [];
    let c = code;
    for (let t = 0; t < T; t++) { path.push(c % p.k); c = Math.floor(c / p.k); }
    let logP = Math.log(p.startProb[path[0]!]!);
    for (let t = 0; t < T; t++) {
      if (t > 0) logP += Math.log(p.transMat[path[t - 1]! * p.k + path[t]!]!);
      logP += logDensity(p, path[t]!, x[2 * t]!, x[2 * t + 1]!);
    }
    out.push({ path, logP });
  }
  return out;
}

function logSumExp(v: number[]): number {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
}

for (const params of [diag3, full3]) {
  const label = params.covarianceType;

  test(`${label}: forward log-likelihood equals enumeration over all 3^6 paths`, () => {
    const hmm = new GaussianHmm(params);
    for (let seed = 1; seed <= 5; seed++) {
      const { obs } = hmm.sample(6, new Rng(seed));
      const brute = logSumExp(enumeratePaths(params, obs.data, 6).map((p) => p.logP));
      const ll = hmm.logLikelihood(obs);
      assert.ok(Math.abs(ll - brute) <= 1e-9 * Math.abs(brute), `seed ${seed}: ${ll} vs ${brute}`);
      // The batch scaled pass (used by EM) must agree with the streaming one too.
      const ws = forwardWorkspace(6, 3);
      emissionMatrix(hmm.emissions, obs, ws.emis);
      const batch = forwardPass(ws, hmm.params.startProb, hmm.params.transMat);
      assert.ok(Math.abs(batch - brute) <= 1e-9 * Math.abs(brute));
    }
  });

  test(`${label}: Viterbi path and score equal the brute-force argmax path`, () => {
    const hmm = new GaussianHmm(params);
    for (let seed = 10; seed <= 15; seed++) {
      const { obs } = hmm.sample(6, new Rng(seed));
      const paths = enumeratePaths(params, obs.data, 6);
      const best = paths.reduce((a, b) => (b.logP > a.logP ? b : a));
      const v = hmm.viterbi(obs);
      assert.deepEqual(Array.from(v.path), best.path, `seed ${seed}`);
      assert.ok(Math.abs(v.logProb - best.logP) <= 1e-9 * Math.abs(best.logP));
    }
  });

  test(`${label}: smoothed posteriors equal path-enumeration marginals`, () => {
    const hmm = new GaussianHmm(params);
    const { obs } = hmm.sample(6, new Rng(99));
    const paths = enumeratePaths(params, obs.data, 6);
    const z = logSumExp(paths.map((p) => p.logP));
    const gamma = hmm.posteriors(obs);
    for (let t = 0; t < 6; t++) {
      for (let s = 0; s < 3; s++) {
        const marg = paths.filter((p) => p.path[t] === s).reduce((acc, p) => acc + Math.exp(p.logP - z), 0);
        assert.ok(Math.abs(gamma[t * 3 + s]! - marg) < 1e-10, `t=${t} s=${s}: ${gamma[t * 3 + s]} vs ${marg}`);
      }
    }
  });

  test(`${label}: online filter posterior equals the batch forward posterior at every step`, () => {
    const hmm = new GaussianHmm(params);
    const { obs } = hmm.sample(500, new Rng(5));
    const ws = forwardWorkspace(obs.n, 3);
    emissionMatrix(hmm.emissions, obs, ws.emis);
    forwardPass(ws, hmm.params.startProb, hmm.params.transMat);
    const filter = hmm.filter();
    for (let t = 0; t < obs.n; t++) {
      const post = filter.update(obs.data.subarray(t * 2, t * 2 + 2));
      for (let s = 0; s < 3; s++) assert.ok(Math.abs(post[s]! - ws.alpha[t * 3 + s]!) < 1e-12);
    }
    // Filtering at the last step is also the smoother's answer there.
    const gamma = hmm.posteriors(obs);
    for (let s = 0; s < 3; s++) assert.ok(Math.abs(filter.state[s]! - gamma[(obs.n - 1) * 3 + s]!) < 1e-12);
    assert.ok(Math.abs(filter.logLikelihood - hmm.logLikelihood(obs)) < 1e-9);
  });
}

test('filter posterior of a 6-step sequence equals the enumerated filtering marginal', () => {
  const hmm = new GaussianHmm(diag3);
  const { obs } = hmm.sample(6, new Rng(3));
  const filter = hmm.filter();
  for (let t = 0; t < 6; t++) {
    const post = filter.update(obs.data.subarray(2 * t, 2 * t + 2));
    const prefix = enumeratePaths(diag3, obs.data, t + 1);
    const z = logSumExp(prefix.map((p) => p.logP));
    for (let s = 0; s < 3; s++) {
      const m = prefix.filter((p) => p.path[t] === s).reduce((a, p) => a + Math.exp(p.logP - z), 0);
      assert.ok(Math.abs(post[s]! - m) < 1e-12);
    }
  }
});

test('1,000,000 observations: finite log-likelihood, filter posteriors sum to 1', () => {
  const hmm = new GaussianHmm(diag3);
  const n = 1_000_000;
  const { obs } = hmm.sample(n, new Rng(42));
  const ll = hmm.logLikelihood(obs);
  assert.ok(Number.isFinite(ll));
  // Per-observation log-likelihood is an O(1) number; anything else means scaling drifted.
  assert.ok(ll / n < 0 && ll / n > -10, `ll/n = ${ll / n}`);
  const filter = hmm.filter();
  let worst = 0;
  for (let t = 0; t < n; t++) {
    const p = filter.updateAt(obs.data, 2 * t);
    const s = p[0]! + p[1]! + p[2]!;
    const e = Math.abs(s - 1);
    if (e > worst || s !== s) worst = s !== s ? Infinity : e;
  }
  assert.ok(worst < 1e-12, `worst |Σp − 1| = ${worst}`);
  assert.equal(filter.logLikelihood, ll);
});

test('a point only an unreachable state explains: finite likelihood via the log-space fallback', () => {
  // State 0 is absorbing and we start in it, but x = 100 sits 100σ from it and on state 1:
  // exp(logB₀ − logB₁) underflows to 0, so the scaled step alone would compute 0/0.
  const hmm = new GaussianHmm({
    k: 2, d: 1, covarianceType: 'diag',
    startProb: Float64Array.of(1, 0), transMat: Float64Array.of(1, 0, 0.5, 0.5),
    means: Float64Array.of(0, 100), covars: Float64Array.of(1, 1),
  });
  const ll = hmm.logLikelihood(Float64Array.of(0, 100));
  const expected = 2 * (-0.5 * Math.log(2 * Math.PI)) - 0.5 * 100 * 100;
  assert.ok(Math.abs(ll - expected) < 1e-9 * Math.abs(expected), `${ll} vs ${expected}`);
  const f = hmm.filter();
  f.update([0]);
  assert.deepEqual(Array.from(f.update([100])), [1, 0]);
  assert.ok(Number.isFinite(f.logLikelihood));
});

test('empty sequence: log-likelihood 0, empty Viterbi path', () => {
  const hmm = new GaussianHmm(diag3);
  assert.equal(hmm.logLikelihood(new Float64Array(0)), 0);
  assert.equal(hmm.viterbi(new Float64Array(0)).path.length, 0);
});
