// Reconciliation from the control plane: run a pass on every engine now, or read what the
// passes found. Ops reaches engines only through their EngineHandle.
import type { FastifyPluginAsync } from 'fastify';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { errorSchema, refuseBody } from '../../http/errors.js';
import { anyObject } from '../../http/schemas.js';
import type { Logger } from '../../obs/logger.js';

/** What the reconciliation routes use, and nothing else (Fastify register options). */
export interface ReconcileRouteOptions {
  readonly engines: () => readonly EngineHandle[];
  readonly log: Logger;
}

export const reconcileRoutes: FastifyPluginAsync<ReconcileRouteOptions> = async (app, o) => {
  app.post('/reconcile/manual', {
    config: { auth: true },
    preValidation: refuseBody,
    schema: {
      summary: 'Reconcile every engine\'s orders with its venue now: adopt orders only the venue has, book missed fills, close what the venue closed, flag the rest',
      security: [{ opsToken: [] }],
      response: {
        200: {
          type: 'object',
          properties: { status: { type: 'string' }, imported: { type: 'integer' }, closed: { type: 'integer' }, fills_booked: { type: 'integer' }, flagged: { type: 'integer' }, in_sync: { type: 'boolean' }, engines: anyObject },
        },
        400: errorSchema,
        401: errorSchema,
      },
    },
  }, async () => {
    const engines: Record<string, unknown> = {};
    let imported = 0, closed = 0, fills = 0, flagged = 0, failed = 0;
    let inSync = true;
    for (const e of o.engines()) {
      if (!e.reconcile) {
        engines[e.name] = { ok: false, error: 'this engine cannot reconcile' };
        failed++;
        inSync = false;
        continue;
      }
      try {
        const r = await e.reconcile();
        engines[e.name] = r;
        imported += r.adopted.length;
        closed += r.closed.length;
        fills += r.fills_booked;
        flagged += r.flagged.length;
        if (!r.ok) failed++;
        inSync &&= r.in_sync;
      } catch (err) {
        engines[e.name] = { ok: false, error: (err as Error).message };
        failed++;
        inSync = false;
      }
    }
    o.log.info({ imported, closed, fills_booked: fills, flagged }, `[RECON] manual reconciliation: imported ${imported}, closed ${closed}, booked ${fills} fills, flagged ${flagged}${failed ? `, ${failed} engine(s) could not reconcile` : ''}`);
    return { status: failed === 0 ? 'completed' : 'partial', imported, closed, fills_booked: fills, flagged, in_sync: inSync, engines };
  });

  app.get('/reconcile/report', {
    schema: {
      summary: 'Reconciliation per engine: last pass, start-up pass, totals, lag since the last pass that read the venue',
      response: { 200: { type: 'object', properties: { in_sync: { type: 'boolean' }, engines: anyObject, ts: { type: 'string' } } } },
    },
  }, async () => {
    const engines: Record<string, unknown> = {};
    let inSync = true;
    for (const e of o.engines()) {
      if (!e.reconcileReport) {
        engines[e.name] = { error: 'this engine cannot reconcile' };
        inSync = false;
        continue;
      }
      const s = await e.reconcileReport();
      engines[e.name] = s;
      inSync &&= s.last?.in_sync ?? false;
    }
    return { in_sync: inSync, engines, ts: new Date().toISOString() };
  });
};
