// Owns the observation matrix shape (n rows × d features, flat row-major Float64Array) and
// its validation. Every HMM entry point funnels input through here so NaN/Infinity are
// rejected once, with the row and feature named, instead of surfacing later as NaN parameters.
import { HmmError } from './errors.js';

export interface Observations {
  /** Row-major: feature f of observation t is data[t * d + f]. */
  readonly data: Float64Array;
  readonly n: number;
  readonly d: number;
}

/** Anything the HMM accepts as a sequence: flat row-major data (d taken from the model),
 *  an Observations record, or rows of numbers (convenient in tests and scripts). */
export type ObservationInput = Float64Array | Observations | readonly (readonly number[])[];

/** Wraps flat row-major data as n×d observations, checking shape and finiteness. */
export function observations(data: Float64Array, d: number): Observations {
  if (!Number.isInteger(d) || d < 1) throw new HmmError(`feature count must be a positive integer, got ${d}`);
  if (data.length % d !== 0) {
    throw new HmmError(`observation data length ${data.length} is not a multiple of the feature count ${d}`);
  }
  const obs = { data, n: data.length / d, d };
  assertFinite(obs);
  return obs;
}

/** Normalises any accepted input to validated Observations with exactly d features. */
export function toObservations(input: ObservationInput, d: number): Observations {
  if (input instanceof Float64Array) return observations(input, d);
  if (isObservations(input)) {
    if (input.d !== d) throw new HmmError(`observations have ${input.d} features, the model expects ${d}`);
    if (input.data.length !== input.n * input.d) {
      throw new HmmError(`observations claim ${input.n}×${input.d} values but hold ${input.data.length}`);
    }
    assertFinite(input);
    return input;
  }
  return fromRows(input, d);
}

/** Rows of numbers → Observations; d defaults to the first row's length. */
export function fromRows(rows: readonly (readonly number[])[], d?: number): Observations {
  const width = d ?? rows[0]?.length ?? 0;
  if (width < 1) throw new HmmError('cannot infer the feature count from an empty observation list');
  const data = new Float64Array(rows.length * width);
  for (let t = 0; t < rows.length; t++) {
    const row = rows[t]!;
    if (row.length !== width) throw new HmmError(`observation ${t} has ${row.length} features, expected ${width}`);
    for (let f = 0; f < width; f++) data[t * width + f] = row[f]!;
  }
  const obs = { data, n: rows.length, d: width };
  assertFinite(obs);
  return obs;
}

function isObservations(x: ObservationInput): x is Observations {
  return !Array.isArray(x) && typeof (x as Observations).d === 'number';
}

function assertFinite(obs: Observations): void {
  const { data, d } = obs;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // One comparison per value on the happy path; the message is only built on failure.
    if (v - v !== 0) {
      const what = Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
      throw new HmmError(`observation ${Math.floor(i / d)} feature ${i % d} is ${what}`);
    }
  }
}

/** Per-feature mean and population variance (two-pass, so large offsets do not cancel). */
export function featureMoments(obs: Observations): { mean: Float64Array; variance: Float64Array } {
  const { data, n, d } = obs;
  const mean = new Float64Array(d);
  const variance = new Float64Array(d);
  if (n === 0) return { mean, variance };
  for (let t = 0; t < n; t++) for (let f = 0; f < d; f++) mean[f]! += data[t * d + f]!;
  for (let f = 0; f < d; f++) mean[f]! /= n;
  for (let t = 0; t < n; t++) {
    for (let f = 0; f < d; f++) {
      const z = data[t * d + f]! - mean[f]!;
      variance[f]! += z * z;
    }
  }
  for (let f = 0; f < d; f++) variance[f]! /= n;
  return { mean, variance };
}
