// The unrolled EM kernels and k-means labelling (4 regimes × 3 diag features, the stack's model
// shape) must produce the generic loops' results bit for bit: the planted-edge proof's pass rule has no margin, so
// a kernel that only agreed to rounding would silently change which models get promoted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/core/random.js';
import { MStepScratch, mStep } from '../../../src/strategy/hmm/baumWelch.js';
import { buildEmissionCache, emissionMatrix } from '../../../src/strategy/hmm/emissions.js';
import { backwardPass, forwardPass, forwardWorkspace } from '../../../src/strategy/hmm/forwardBackward.js';
import { GaussianHmm, type GaussianHmmParams } from '../../../src/strategy/hmm/gaussianHmm.js';
import { kmeansPlusPlus } from '../../../src/strategy/hmm/kmeans.js';
import type { Observations } from '../../../src/strategy/hmm/observations.js';
import { backwardPassUnrolled, forwardPassUnrolled } from '../../../src/strategy/hmm/unrolledEm.js';

function sameBits(actual: Float64Array, expected: Float64Array, what: string): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  assert.ok(a.equals(e), `${what} differs from the generic result`);
}

function copy(p: GaussianHmmParams): GaussianHmmParams {
  return {
    ...p, startProb: Float64Array.from(p.startProb), transMat: Float64Array.from(p.transMat),
    means: Float64Array.from(p.means), covars: Float64Array.from(p.covars),
  };
}

/** A 4-state model whose state 3 is (numerically) unreachable from the others, and a
 *  sequence with a stretch only state 3 explains: those rows take the log-space step. */
const fallbackModel: GaussianHmmParams = {
  k: 4, d: 3, covarianceType: 'diag',
  startProb: Float64Array.of(0.4, 0.3, 0.2, 0.1),
  transMat: Float64Array.of(
    0.9, 0.06, 0.04, 1e-300,
    0.05, 0.9, 0.05, 1e-300,
    0.03, 0.07, 0.9, 1e-300,
    0.1, 0.1, 0.1, 0.7,
  ),
  means: Float64Array.of(0, 0, 0, 1.5, -0.5, 1, -1.5, 0.5, -1, 40, 40, 40),
  covars: Float64Array.of(1, 0.5, 0.8, 0.7, 1.2, 0.6, 0.9, 0.4, 1.1, 0.5, 0.5, 0.5),
};

function sequence(): Observations {
  const { obs } = new GaussianHmm(fallbackModel).sample(3000, new Rng(21));
  const data = Float64Array.from(obs.data);
  for (let t = 1500; t < 1505; t++) data.set([40, 40, 40], 3 * t);
  return { data, n: obs.n, d: 3 };
}

test('unrolled forward and backward passes equal emissionMatrix + forwardPass + backwardPass bit for bit', () => {
  const obs = sequence();
  const cache = buildEmissionCache(4, 3, 'diag', fallbackModel.means, Float64Array.from(fallbackModel.covars));
  const generic = forwardWorkspace(obs.n, 4);
  emissionMatrix(cache, obs, generic.emis);
  const logEmis = Float64Array.from(generic.emis);
  const llGeneric = forwardPass(generic, fallbackModel.startProb, fallbackModel.transMat);
  const unrolled = forwardWorkspace(obs.n, 4);
  const llUnrolled = forwardPassUnrolled(unrolled, cache, obs.data, fallbackModel.startProb, fallbackModel.transMat);

  // The case must reach the log-space fallback, whose offset is not the row's largest log-emission.
  const fallbackRows = Array.from(generic.offset).filter((o, t) => o !== Math.max(...logEmis.subarray(4 * t, 4 * t + 4))).length;
  assert.ok(fallbackRows > 0, 'the sequence never took the log-space step');
  assert.ok(Object.is(llUnrolled, llGeneric), `log-likelihood ${llUnrolled} vs ${llGeneric}`);
  sameBits(unrolled.emis, generic.emis, 'rescaled emissions');
  sameBits(unrolled.alpha, generic.alpha, 'forward posteriors');
  sameBits(unrolled.scale, generic.scale, 'scales');
  sameBits(unrolled.offset, generic.offset, 'offsets');

  const xiGeneric = new Float64Array(16);
  const xiUnrolled = new Float64Array(16);
  backwardPass(generic, fallbackModel.transMat, xiGeneric);
  backwardPassUnrolled(unrolled, fallbackModel.transMat, xiUnrolled);
  sameBits(unrolled.alpha, generic.alpha, 'smoothed posteriors');
  sameBits(xiUnrolled, xiGeneric, 'expected transition counts');
});

test('EM iterations through the unrolled kernels equal those through the generic loops bit for bit', () => {
  // Every state reachable and visited, so every sum carries weight; a last-bit difference in
  // any of them surfaces within a few iterations even where one division hides it.
  const params: GaussianHmmParams = {
    ...fallbackModel,
    transMat: Float64Array.of(0.9, 0.04, 0.03, 0.03, 0.05, 0.85, 0.05, 0.05, 0.03, 0.07, 0.8, 0.1, 0.1, 0.1, 0.1, 0.7),
    means: Float64Array.of(0, 0, 0, 1.5, -0.5, 1, -1.5, 0.5, -1, 0.5, 1.5, -0.5),
  };
  const { obs } = new GaussianHmm(params).sample(3000, new Rng(22));
  const floor = Float64Array.of(1e-6, 2e-6, 3e-6);
  const generic = copy(params);
  const unrolled = copy(params);
  const gws = forwardWorkspace(obs.n, 4);
  const uws = forwardWorkspace(obs.n, 4);
  const xi = new Float64Array(16);
  for (let iter = 0; iter < 8; iter++) {
    emissionMatrix(buildEmissionCache(4, 3, 'diag', generic.means, generic.covars), obs, gws.emis);
    const llGeneric = forwardPass(gws, generic.startProb, generic.transMat);
    backwardPass(gws, generic.transMat, xi);
    mStep(obs, gws.alpha, xi, generic, floor, new MStepScratch(4, 3, 'diag'), false);
    const cache = buildEmissionCache(4, 3, 'diag', unrolled.means, unrolled.covars);
    const llUnrolled = forwardPassUnrolled(uws, cache, obs.data, unrolled.startProb, unrolled.transMat);
    backwardPassUnrolled(uws, unrolled.transMat, xi);
    mStep(obs, uws.alpha, xi, unrolled, floor, new MStepScratch(4, 3, 'diag'), true);
    assert.ok(Object.is(llUnrolled, llGeneric), `iteration ${iter}: log-likelihood ${llUnrolled} vs ${llGeneric}`);
    sameBits(unrolled.startProb, generic.startProb, `iteration ${iter}: start distribution`);
    sameBits(unrolled.transMat, generic.transMat, `iteration ${iter}: transition matrix`);
    sameBits(unrolled.means, generic.means, `iteration ${iter}: means`);
    sameBits(unrolled.covars, generic.covars, `iteration ${iter}: variances`);
  }
});

test('unrolled M-step leaves a state without responsibility its mean and variance', () => {
  const obs = sequence();
  const ws = forwardWorkspace(obs.n, 4);
  forwardPassUnrolled(ws, buildEmissionCache(4, 3, 'diag', fallbackModel.means, fallbackModel.covars), obs.data, fallbackModel.startProb, fallbackModel.transMat);
  const xi = new Float64Array(16);
  backwardPassUnrolled(ws, fallbackModel.transMat, xi);
  for (let t = 0; t < obs.n; t++) ws.alpha[4 * t + 2] = 0;
  const floor = Float64Array.of(1e-4, 2e-4, 3e-4);
  const generic = copy(fallbackModel);
  const unrolled = copy(fallbackModel);
  mStep(obs, ws.alpha, xi, generic, floor, new MStepScratch(4, 3, 'diag'), false);
  mStep(obs, ws.alpha, xi, unrolled, floor, new MStepScratch(4, 3, 'diag'), true);
  sameBits(unrolled.means, generic.means, 'means');
  sameBits(unrolled.covars, generic.covars, 'variances');
  sameBits(unrolled.means.subarray(6, 9), fallbackModel.means.subarray(6, 9), 'unused state mean');
  sameBits(unrolled.covars.subarray(6, 9), fallbackModel.covars.subarray(6, 9), 'unused state variance');
});

test('k-means for 4 clusters × 3 features labels and centres exactly as the generic loops do', () => {
  // A fourth, all-zero feature adds 0 to every distance and sum, so the generic run on it must
  // agree to the bit with the unrolled run on the three real features.
  const { obs } = new GaussianHmm(fallbackModel).sample(3000, new Rng(23));
  const padded = new Float64Array(obs.n * 4);
  for (let t = 0; t < obs.n; t++) padded.set(obs.data.subarray(3 * t, 3 * t + 3), 4 * t);
  for (const seed of [1, 2, 3]) {
    const unrolled = kmeansPlusPlus(obs, 4, new Rng(seed));
    const generic = kmeansPlusPlus({ data: padded, n: obs.n, d: 4 }, 4, new Rng(seed));
    assert.deepEqual(unrolled.labels, generic.labels, `seed ${seed}: labels`);
    const centres = Float64Array.from({ length: 12 }, (_, i) => generic.centroids[Math.floor(i / 3) * 4 + (i % 3)]!);
    sameBits(unrolled.centroids, centres, `seed ${seed}: centroids`);
  }
});
