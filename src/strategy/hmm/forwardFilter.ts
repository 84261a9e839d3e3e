// Owns online regime filtering: p(state_t | x_1..x_t) updated one observation at a time in
// O(k² + k·d²), renormalised every step so it can run for the life of a process without
// under- or overflow. Uses the same scaled step as the batch forward pass, so live and
// backtest posteriors agree to the last bit. It reads a model only through FilterModel (what a
// filter step needs), so gaussianHmm.ts can build filters without the two importing each other.
import { HmmError } from './errors.js';
import { emissionRow, type EmissionCache } from './emissions.js';
import { predict, scaledUpdate } from './forwardBackward.js';

/** What a filter step reads of a Gaussian HMM (GaussianHmm is one). */
export interface FilterModel {
  readonly k: number;
  readonly d: number;
  readonly params: { readonly startProb: ArrayLike<number>; readonly transMat: Float64Array };
  readonly emissions: EmissionCache;
}

export class ForwardFilter {
  /** Observations absorbed since construction or the last reset. */
  steps = 0;
  /** log p(x_1..x_steps) under the model. */
  logLikelihood = 0;
  private readonly model: FilterModel;
  private readonly initial: Float64Array;
  private readonly posterior: Float64Array;
  private readonly pred: Float64Array;
  private readonly emis: Float64Array;
  private readonly offset = new Float64Array(1);

  constructor(model: FilterModel, initial?: ArrayLike<number>) {
    this.model = model;
    const k = model.k;
    if (initial !== undefined && initial.length !== k) {
      throw new HmmError(`initial distribution has ${initial.length} entries, the model has ${k} states`);
    }
    this.initial = initial === undefined ? Float64Array.from(model.params.startProb) : Float64Array.from(initial);
    this.posterior = new Float64Array(k);
    this.pred = new Float64Array(k);
    this.emis = new Float64Array(k);
  }

  /**
   * Absorbs one observation (d features) and returns the filtered posterior. The returned
   * array is the filter's own buffer, overwritten by the next update (no allocation per
   * step): copy it with .slice() to keep it.
   */
  update(x: ArrayLike<number>): Float64Array {
    if (x.length !== this.model.d) throw new HmmError(`observation has ${x.length} features, the model expects ${this.model.d}`);
    return this.updateAt(x, 0);
  }

  /** update() reading the features at x[off .. off+d) (rows of a flat matrix). */
  updateAt(x: ArrayLike<number>, off: number): Float64Array {
    const { k, d } = this.model;
    for (let f = 0; f < d; f++) {
      const v = x[off + f]!;
      if (!Number.isFinite(v)) throw new HmmError(`observation ${this.steps} feature ${f} is ${v}`);
    }
    if (this.steps === 0) this.pred.set(this.initial);
    else predict(this.posterior, 0, this.model.params.transMat, k, this.pred);
    emissionRow(this.model.emissions, x, off, this.emis, 0);
    const s = scaledUpdate(this.pred, this.emis, 0, k, this.posterior, 0, this.offset, 0);
    this.logLikelihood += Math.log(s) + this.offset[0]!;
    this.steps++;
    return this.posterior;
  }

  /** Current posterior (all zeros before the first update). Same buffer as update returns. */
  get state(): Float64Array {
    return this.posterior;
  }

  reset(): void {
    this.steps = 0;
    this.logLikelihood = 0;
    this.posterior.fill(0);
  }
}
