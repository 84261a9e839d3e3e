// Venue request latency and errors (hmm_venue_latency_seconds{venue,op},
// hmm_venue_errors_total{venue,kind}) measured at the Venue interface, so every adapter (sim,
// ccxt) is timed the same way without the adapter or the engine knowing about metrics.
import type { Venue } from './venue.js';
import type { Metrics } from '../obs/metrics.js';

/** Venue calls that go to the exchange (or its simulator); everything else passes through untimed. */
export const TIMED_VENUE_OPS = ['submit', 'cancel', 'fetchOpenOrders', 'fetchOrder', 'fetchFills'] as const;
type TimedOp = (typeof TIMED_VENUE_OPS)[number];
const TIMED = new Set<string>(TIMED_VENUE_OPS);

/**
 * Wraps a venue in a Proxy that times its request methods. The proxy has the venue's own type,
 * so adapter-specific methods (SimVenue.onBar) still work through it.
 * A failed `submit` is not counted here: the engine already counts it as
 * hmm_venue_errors_total{kind="submit"} (with the order left for reconciliation); counting it
 * twice would double the error rate the alert reads.
 */
export function instrumentVenue<V extends Venue>(venue: V, metrics: Pick<Metrics, 'venueLatency' | 'venueErrors'>, venueLabel: string): V {
  for (const op of TIMED_VENUE_OPS) {
    metrics.venueErrors.inc({ venue: venueLabel, kind: op }, 0);
  }
  // Functions handed out are made once per method name: the engine reads venue methods on
  // every order, and a fresh bind or wrapper per read was a measurable share of its time.
  const handed = new Map<string | symbol, { readonly original: unknown; readonly fn: unknown }>();
  return new Proxy(venue, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const cached = handed.get(prop);
      if (cached !== undefined && cached.original === value) return cached.fn;
      const fn = typeof prop === 'string' && TIMED.has(prop) ? timed(target, prop as TimedOp, value as (...a: unknown[]) => Promise<unknown>) : (value as (...a: unknown[]) => unknown).bind(target);
      handed.set(prop, { original: value, fn });
      return fn;
    },
  });

  function timed(target: V, op: TimedOp, fn: (...a: unknown[]) => Promise<unknown>) {
    // The caller gets the adapter's own promise back (no extra async hop), so wrapping never
    // changes the order in which the engine sees a submission's result and the venue's events.
    return (...args: unknown[]) => {
      const start = performance.now();
      const done = (failed: boolean) => {
        metrics.venueLatency.observe({ venue: venueLabel, op }, (performance.now() - start) / 1000);
        if (failed && op !== 'submit') metrics.venueErrors.inc({ venue: venueLabel, kind: op });
      };
      let p: Promise<unknown>;
      try {
        p = fn.apply(target, args);
      } catch (err) {
        done(true);
        throw err;
      }
      p.then(() => done(false), () => done(true));
      return p;
    };
  }
}
