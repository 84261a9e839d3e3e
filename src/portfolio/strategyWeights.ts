// ops/strategy_weights.json: each model's weight, both its share of routed external signals
// and the scaler of its order size (notional = quota × weight × strength). Weight 0 = shadow.
// Written atomically by POST /strategy/weights; hand edits are picked up and validated.
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import { ValidationError, WatchedFile } from '../config/watchedFile.js';

export interface WeightsDoc {
  readonly weights: Readonly<Record<string, number>>;
  readonly updated_at: string;
  readonly updated_by: string;
}

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** Validates a weights map; returns every problem with the field it concerns. */
export function validateWeights(weights: unknown, knownModels: ReadonlySet<string>, fieldPrefix = 'weights'): FieldError[] {
  if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) {
    return [{ field: fieldPrefix, message: 'must be an object of model id → weight' }];
  }
  const errors: FieldError[] = [];
  const entries = Object.entries(weights as Record<string, unknown>);
  if (entries.length === 0) errors.push({ field: fieldPrefix, message: 'must name at least one model' });
  for (const [model, w] of entries) {
    const field = `${fieldPrefix}.${model}`;
    if (!knownModels.has(model)) errors.push({ field, message: `unknown model "${model}" (known: ${[...knownModels].join(', ')})` });
    else if (typeof w !== 'number' || !Number.isFinite(w)) errors.push({ field, message: 'must be a finite number' });
    else if (w < 0 || w > 1) errors.push({ field, message: `must be within [0, 1], got ${w}` });
  }
  return errors;
}

export function parseWeightsFile(text: string, knownModels: ReadonlySet<string>): WeightsDoc {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`not valid JSON: ${(err as Error).message}`);
  }
  const weights = (doc as { weights?: unknown } | null)?.weights;
  const errors = validateWeights(weights, knownModels);
  if (errors.length > 0) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '));
  const d = doc as Partial<WeightsDoc>;
  return { weights: { ...(weights as Record<string, number>) }, updated_at: String(d.updated_at ?? ''), updated_by: String(d.updated_by ?? 'file') };
}

export class StrategyWeights {
  private readonly file: WatchedFile<WeightsDoc>;

  constructor(
    path: string,
    root: string,
    private readonly knownModels: () => ReadonlySet<string>,
    defaults: Record<string, number>,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly metrics: Metrics | null,
  ) {
    this.file = new WatchedFile(path, root, (t) => parseWeightsFile(t, knownModels()),
      () => ({ weights: { ...defaults }, updated_at: new Date().toISOString(), updated_by: 'defaults' }), log, metrics);
    // Models added since the file was written join as shadow (weight 0); retired ones drop out.
    const merged: Record<string, number> = {};
    for (const m of knownModels()) merged[m] = this.file.current.weights[m] ?? defaults[m] ?? 0;
    this.write({ weights: merged, updated_at: this.file.current.updated_at || new Date().toISOString(), updated_by: this.file.current.updated_by });
    this.file.onChange((doc) => this.onApplied(doc));
  }

  get current(): WeightsDoc {
    return this.file.current;
  }

  weight(model: string): number {
    return this.file.current.weights[model] ?? 0;
  }

  watch(): Promise<void> {
    return this.file.watch();
  }

  /** Merges the given weights into the current ones; throws ValidationError listing fields. */
  update(partial: Record<string, number>, actor: string): WeightsDoc {
    const errors = validateWeights(partial, this.knownModels());
    if (errors.length > 0) throw Object.assign(new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; ')), { fields: errors });
    const doc: WeightsDoc = { weights: { ...this.file.current.weights, ...partial }, updated_at: new Date().toISOString(), updated_by: actor };
    const before = this.file.current.weights;
    this.write(doc);
    this.log.info({ actor, before, after: doc.weights }, `[GOV] strategy weights updated by ${actor}: ${JSON.stringify(partial)}`);
    return doc;
  }

  private write(doc: WeightsDoc): void {
    const text = JSON.stringify(doc, null, 2) + '\n';
    writeFileAtomic(this.file.path, text);
    this.file.replace(doc, text);
  }

  private onApplied(doc: WeightsDoc): void {
    for (const [m, w] of Object.entries(doc.weights)) this.metrics?.modelWeight.set({ model: m }, w);
    this.bus.publish('strategy.weights_updated', { weights: { ...doc.weights }, ts: Date.now() });
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
