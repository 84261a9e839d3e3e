// How CLI commands reach a running stack: JSON over the Ops API with the operator token.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StackError } from '../core/errors.js';
import { describeLocation, locateOps, type OpsLocation } from './locate.js';

/** A command that cannot do what was asked: the message is printed, exitCode is the process's. */
export class CliError extends StackError {
  constructor(message: string, readonly exitCode = 1) {
    super('HMM_CLI_FAILED', message);
  }
}

export function resolveToken(root: string): string {
  const env = process.env.OPS_API_TOKEN;
  if (env) return env;
  const file = join(root, '.ops_token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new CliError(`no operator token: set OPS_API_TOKEN or start the stack once to create ${file}`, 2);
  }
}

/** One Ops API call. `also` lists non-2xx statuses that are answers (e.g. /readyz's 503). */
export async function opsRequest(loc: OpsLocation, method: 'GET' | 'POST', path: string, body?: unknown, token?: string, also: readonly number[] = []): Promise<unknown> {
  const base = loc.url;
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { 'x-ops-token': token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new CliError(`cannot reach the Ops API (${cause}) at ${describeLocation(loc)}. Is the stack running? (\`npm start\`)`, 3);
  }
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: keep the text */ }
  if (!res.ok && !also.includes(res.status)) {
    const err = typeof json === 'object' && json !== null ? (json as { error?: unknown; field?: unknown }) : null;
    const msg = err && 'error' in err ? `${String(err.error)}${typeof err.field === 'string' && !String(err.error).includes(err.field) ? ` (field: ${err.field})` : ''}` : text;
    const hint = res.status === 401 ? ` (hmm sends OPS_API_TOKEN if set, else the root's .ops_token: is it this stack's root? --root / HMM_ROOT)` : '';
    throw new CliError(`${method} ${path} → HTTP ${res.status}: ${msg}${hint}`, 1);
  }
  return json;
}

/** Publishes one event on a running stack's bus (POST /bus/publish), for one-line scripts:
 *  npx tsx -e "import('./src/cli/opsClient.ts').then((c) => c.publishEvent('metrics.update', { pnl_unrealized: -150 }))"
 *  The stack is found as `hmm` finds it (OPS_URL, the root's lock file, OPS_PORT); HMM_ROOT (or
 *  OPS_API_TOKEN) says where its token is. */
export async function publishEvent(topic: string, payload: Record<string, unknown>, opts: { url?: string; root?: string } = {}): Promise<unknown> {
  const root = opts.root ?? process.env.HMM_ROOT ?? process.cwd();
  const token = resolveToken(root);
  const out = await opsRequest(locateOps(root, opts.url, process.env), 'POST', '/bus/publish', { topic, payload }, token);
  process.stdout.write(JSON.stringify(out) + '\n');
  return out;
}
