// The Ops API (port 8002): the operator's HTTP surface. The server itself (errors naming the
// field, form bodies, token and audit hooks, OpenAPI docs) is the HTTP layer's (src/http/);
// this names it for the control plane, which registers the route plugins of src/ops/routes/
// onto it, each with only the dependencies it declares.
import type { FastifyInstance } from 'fastify';
import { createHttpServer, type HttpServerOptions } from '../http/server.js';

export type OpsServerOptions = Omit<HttpServerOptions, 'title' | 'description' | 'logTag'>;

export function createOpsServer(opts: OpsServerOptions): Promise<FastifyInstance> {
  return createHttpServer({
    ...opts,
    title: 'hmm-stack Ops API',
    description: 'Control plane of hmm-stack: trading state, strategy weights, signals, aggregates, metrics.',
    logTag: '[OPS]',
  });
}
