// The model registry: a saved model loads with every parameter bit-identical, versions
// accumulate, and a tampered or foreign-format file is refused with a message saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../src/core/random.js';
import { GaussianHmm } from '../../../src/strategy/hmm/gaussianHmm.js';
import { fitGaussianHmm } from '../../../src/strategy/hmm/baumWelch.js';
import { DEFAULT_FEATURE_SPEC, featureNames } from '../../../src/strategy/hmm/features.js';
import { DEFAULT_POLICY } from '../../../src/strategy/hmm/policy.js';
import {
  createStoredModel, hmmFromStored, listHmmModelVersions, loadHmmModel, loadHmmModelFile, loadLatestHmmModel,
  saveHmmModel, type StoredHmmModel,
} from '../../../src/strategy/hmm/modelStore.js';

function trainedDoc(covarianceType: 'diag' | 'full'): { doc: StoredHmmModel; hmm: GaussianHmm } {
  const truth = new GaussianHmm({
    k: 2, d: 2, covarianceType: 'diag',
    startProb: Float64Array.of(0.5, 0.5), transMat: Float64Array.of(0.9, 0.1, 0.2, 0.8),
    means: Float64Array.of(-1, 0.3, 1, -0.3), covars: Float64Array.of(0.5, 1, 1, 0.7),
  });
  const { obs } = truth.sample(800, new Rng(2));
  // Fitted parameters have full 17-digit mantissas: the round trip cannot pass by luck.
  const fit = fitGaussianHmm(obs, { k: 2, covarianceType, seed: 4, nInit: 1 });
  const doc = createStoredModel(fit.model, {
    id: 'btc-hmm',
    version: 0,
    createdAt: '2024-05-01T00:00:00.000Z',
    features: { spec: DEFAULT_FEATURE_SPEC, names: featureNames(DEFAULT_FEATURE_SPEC), mean: [1e-4 / 3, 0.0123456789], std: [Math.PI / 100, Math.E / 1000] },
    policy: DEFAULT_POLICY,
    trainingWindow: { from: 1_700_000_000_000, to: 1_700_800_000_000, bars: 821 },
    fit: { logLikelihood: fit.logLikelihood, bic: fit.model.bic(obs), iterations: fit.iterations, converged: fit.converged },
  });
  return { doc, hmm: fit.model };
}

function withRegistry(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-registry-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

function numbersOf(v: unknown, out: number[] = []): number[] {
  if (typeof v === 'number') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => numbersOf(x, out));
  else if (v !== null && typeof v === 'object') Object.keys(v).sort().forEach((k) => numbersOf((v as Record<string, unknown>)[k], out));
  return out;
}

for (const covarianceType of ['diag', 'full'] as const) {
  test(`${covarianceType}: save → load gives bit-identical parameters and statistics`, () => {
    withRegistry((dir) => {
      const { doc, hmm } = trainedDoc(covarianceType);
      const { path, model: saved } = saveHmmModel(dir, doc);
      assert.equal(path, join(dir, 'btc-hmm', 'v1.json'));
      const loaded = loadHmmModel(dir, 'btc-hmm', 1);
      const a = numbersOf({ params: saved.params, features: saved.features, fit: saved.fit });
      const b = numbersOf({ params: loaded.params, features: loaded.features, fit: loaded.fit });
      assert.equal(a.length, b.length);
      a.forEach((x, i) => assert.ok(Object.is(x, b[i]), `number ${i}: ${x} vs ${b[i]}`));
      const back = hmmFromStored(loaded);
      for (const key of ['startProb', 'transMat', 'means', 'covars'] as const) {
        hmm.params[key].forEach((x, i) => assert.ok(Object.is(x, back.params[key][i]), `${key}[${i}]`));
      }
      assert.deepEqual(loaded.policy, DEFAULT_POLICY);
      assert.equal(loaded.covarianceType, covarianceType);
    });
  });
}

test('versions accumulate; latest loads the highest', () => {
  withRegistry((dir) => {
    const { doc } = trainedDoc('diag');
    assert.deepEqual(listHmmModelVersions(dir, 'btc-hmm'), []);
    assert.throws(() => loadLatestHmmModel(dir, 'btc-hmm'), /no saved versions of model btc-hmm/);
    for (let i = 0; i < 3; i++) saveHmmModel(dir, doc);
    assert.deepEqual(listHmmModelVersions(dir, 'btc-hmm'), [1, 2, 3]);
    const latest = loadLatestHmmModel(dir, 'btc-hmm');
    assert.equal(latest.version, 3);
    assert.throws(() => loadHmmModel(dir, 'btc-hmm', 7), /has no version 7/);
  });
});

test('a tampered parameter fails the checksum', () => {
  withRegistry((dir) => {
    const { path } = saveHmmModel(dir, trainedDoc('diag').doc);
    const json = JSON.parse(readFileSync(path, 'utf8')) as { params: { means: number[] } };
    json.params.means[0] = json.params.means[0]! + 1e-12;
    writeFileSync(path, JSON.stringify(json));
    assert.throws(() => loadHmmModelFile(path), /checksum mismatch/);
  });
});

test('a tampered policy threshold fails the checksum too', () => {
  withRegistry((dir) => {
    const { path } = saveHmmModel(dir, trainedDoc('diag').doc);
    const text = readFileSync(path, 'utf8').replace('"enterThreshold": 0.7', '"enterThreshold": 0.51');
    writeFileSync(path, text);
    assert.throws(() => loadHmmModel(dir, 'btc-hmm', 1), /checksum mismatch/);
  });
});

test('an unknown format version or a non-JSON file is refused with a clear message', () => {
  withRegistry((dir) => {
    const { path } = saveHmmModel(dir, trainedDoc('diag').doc);
    const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...json, formatVersion: 2 }));
    assert.throws(() => loadHmmModelFile(path), /unsupported model format version 2/);
    writeFileSync(path, '{"formatVersion": 1, "params": ');
    assert.throws(() => loadHmmModelFile(path), /not valid JSON/);
  });
});

test('a file whose checksum matches but whose parameters are invalid is still refused', () => {
  const { doc } = trainedDoc('diag');
  const broken = createStoredModel(new GaussianHmm(hmmFromStored(doc).params), {
    ...doc, features: { ...doc.features, std: [1] },
  });
  withRegistry((dir) => {
    assert.throws(() => saveHmmModel(dir, broken), /features/);
  });
});

test('model ids that could leave the registry folder are rejected', () => {
  withRegistry((dir) => {
    assert.throws(() => listHmmModelVersions(dir, '../etc'), /invalid model id/);
    assert.throws(() => listHmmModelVersions(dir, '..'), /invalid model id/);
  });
});
