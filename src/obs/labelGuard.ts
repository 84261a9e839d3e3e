// Bounded label cardinality for prom-client metrics. A label value that comes from outside
// (a venue's reject code, a governance action name, a symbol) could otherwise mint a new
// series per distinct string and grow /metrics without bound. The guard admits the first
// `cap` distinct values of each label and maps every later one to "other", counting the
// overflow, so the series count stays ≤ the product of the caps whatever the inputs are.

/** Values a metric method receives as its label argument. */
type LabelValues = Record<string, string | number>;

export interface LabelGuardOptions {
  /** Distinct values admitted per label name; labels not listed get `defaultCap`. */
  readonly caps?: Readonly<Record<string, number>>;
  readonly defaultCap?: number;
  /** Called once per overflowing value (for a counter of overflows). */
  readonly onOverflow?: (metric: string, label: string) => void;
}

export const OVERFLOW_VALUE = 'other';
const MAX_VALUE_LENGTH = 64;

/** Admits label values per (metric, label) up to a cap. */
export class LabelGuard {
  /** metric → label → admitted values (nested maps: no key string built per call). */
  private readonly seen = new Map<string, Map<string, Set<string>>>();
  private readonly caps: Readonly<Record<string, number>>;
  private readonly defaultCap: number;

  constructor(private readonly opts: LabelGuardOptions = {}) {
    this.caps = opts.caps ?? {};
    this.defaultCap = opts.defaultCap ?? 256;
  }

  value(metric: string, label: string, raw: string | number): string {
    // Long strings are truncated rather than refused: the prefix still tells an operator what it was.
    const str = typeof raw === 'string' ? raw : String(raw);
    const v = str.length > MAX_VALUE_LENGTH ? str.slice(0, MAX_VALUE_LENGTH) : str;
    let byLabel = this.seen.get(metric);
    if (byLabel === undefined) {
      byLabel = new Map();
      this.seen.set(metric, byLabel);
    }
    let set = byLabel.get(label);
    if (set === undefined) {
      set = new Set();
      byLabel.set(label, set);
    }
    if (set.has(v)) return v;
    if (set.size >= (this.caps[label] ?? this.defaultCap)) {
      this.opts.onOverflow?.(metric, label);
      return OVERFLOW_VALUE;
    }
    set.add(v);
    return v;
  }

  labels(metric: string, labels: LabelValues): LabelValues {
    const out: LabelValues = {};
    for (const k in labels) out[k] = this.value(metric, k, labels[k]!);
    return out;
  }
}

interface GuardableMetric {
  readonly name?: string;
  readonly labelNames?: readonly string[];
}

const isLabels = (x: unknown): x is LabelValues => typeof x === 'object' && x !== null && !Array.isArray(x);
const WRAPPED_METHODS = ['inc', 'dec', 'set', 'observe', 'startTimer', 'remove'] as const;

/**
 * Routes every label argument of a prom-client metric through the guard. prom-client binds
 * `inc`/`observe` per instance, so the wrappers are installed on the instance; the metric keeps
 * its type and API, and code that already holds it needs no change.
 */
export function guardMetric<M extends object>(metric: M, guard: LabelGuard): M {
  const m = metric as M & GuardableMetric & Record<string, unknown>;
  const name = m.name ?? '';
  const labelNames = m.labelNames ?? [];
  if (labelNames.length === 0) return metric;
  const target = m as Record<string, unknown>;
  for (const method of WRAPPED_METHODS) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    const fn = original as (...args: unknown[]) => unknown;
    target[method] = function (this: unknown, ...args: unknown[]) {
      if (isLabels(args[0])) args[0] = guard.labels(name, args[0]);
      return fn.apply(metric, args);
    };
  }
  const labels = target.labels;
  if (typeof labels === 'function') {
    const fn = labels as (...args: unknown[]) => unknown;
    target.labels = function (this: unknown, ...args: unknown[]) {
      let values: LabelValues;
      if (isLabels(args[0])) values = args[0];
      else {
        values = {};
        labelNames.forEach((l, i) => {
          const v = args[i];
          if (typeof v === 'string' || typeof v === 'number') values[l] = v;
        });
      }
      return fn.call(metric, guard.labels(name, values));
    };
  }
  return metric;
}
