// An engine's own stop, from the control plane: the operator acknowledges the cause of a stop an
// engine put on itself (a ledger that could not commit) — `hmm engine ack <name>`. A resume does
// not lift such a stop; this route is the one thing that does. Audited (an auth route).
import type { FastifyPluginAsync } from 'fastify';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { HttpError, errorSchema } from '../../http/errors.js';
import { anyObject } from '../../http/schemas.js';
import { actorOf } from '../../http/auth.js';
import { stopAckStatusOf } from '../../http/status.js';
import type { Logger } from '../../obs/logger.js';

/** What the route uses, and nothing else (Fastify register options). */
export interface EngineStopRouteOptions {
  readonly engines: () => readonly EngineHandle[];
  readonly log: Logger;
}

export const engineStopRoutes: FastifyPluginAsync<EngineStopRouteOptions> = async (app, o) => {
  app.post('/engines/:name/ack', {
    config: { auth: true },
    schema: {
      summary: 'Acknowledge the cause of a stop an engine put on itself (it trades again unless halted); 409 when it has none or its ledger still cannot commit',
      security: [{ opsToken: [] }],
      params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 64 } } },
      body: { type: 'object', additionalProperties: false, properties: { note: { type: 'string', maxLength: 200 } } },
      response: { 200: anyObject, 401: errorSchema, 404: errorSchema, 409: anyObject },
    },
  }, async (req, reply) => {
    const { name } = req.params as { name: string };
    const note = (req.body as { note?: string } | null | undefined)?.note ?? null;
    const engine = o.engines().find((e) => e.name === name);
    if (!engine) throw new HttpError(404, `no engine ${name} (engines: ${o.engines().map((e) => e.name).join(', ') || 'none'})`);
    const actor = actorOf(req);
    const r = await engine.acknowledgeStop(actor, note);
    if (r.acknowledged) o.log.warn({ engine: name, actor, code: r.stop?.code }, `[RISK] ${name}: own stop (${r.stop?.reason ?? 'unknown'}) acknowledged by ${actor}${note ? `: ${note}` : ''}; trading ${r.trading_enabled ? 'ENABLED' : 'still DISABLED'}`);
    else o.log.warn({ engine: name, actor }, `[RISK] ${name}: acknowledgement by ${actor} refused: ${r.message}`);
    return reply.code(stopAckStatusOf(r)).send({ engine: name, ...r });
  });
};
