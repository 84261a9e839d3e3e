// The kill switch: the global TRADING_ENABLED flag. Persisted in ops/state.json so it
// survives restarts, pushed to every engine before `set` returns (so no order is accepted
// after a kill is acknowledged), published on the bus, and logged with actor and reason.
import { readFileSync } from 'node:fs';
import type { Bus } from '../bus/bus.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { writeJsonAtomic } from '../util/atomicFile.js';

export interface TradingStateFile {
  readonly trading_enabled: boolean;
  readonly updated_at: string;
  readonly actor: string;
  readonly reason: string;
}

export type TradingStateRead =
  | { readonly kind: 'ok'; readonly state: TradingStateFile }
  | { readonly kind: 'missing' }
  | { readonly kind: 'unreadable'; readonly message: string };

/** Reads ops/state.json. A file that exists but cannot be understood is reported as such:
 *  the caller must fail safe (trading off), never read it as "no decision". */
export function readTradingStateFile(path: string): TradingStateRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { kind: 'missing' } : { kind: 'unreadable', message: (err as Error).message };
  }
  try {
    const doc = JSON.parse(text) as Partial<TradingStateFile>;
    if (typeof doc.trading_enabled !== 'boolean') return { kind: 'unreadable', message: 'trading_enabled is not true or false' };
    return {
      kind: 'ok',
      state: { trading_enabled: doc.trading_enabled, updated_at: String(doc.updated_at ?? ''), actor: String(doc.actor ?? 'unknown'), reason: String(doc.reason ?? '') },
    };
  } catch (err) {
    return { kind: 'unreadable', message: `not valid JSON: ${(err as Error).message}` };
  }
}

export class KillSwitch {
  private state: TradingStateFile;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly engines: () => readonly EngineHandle[],
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly metrics: Metrics | null,
    envOverride: boolean | null,
  ) {
    const read = readTradingStateFile(path);
    const persisted = read.kind === 'ok' ? read.state : null;
    // An explicit TRADING_ENABLED=false at start always wins (safe); otherwise the last
    // operator decision persists across restarts. A damaged state file means we do not know
    // that decision: trading stays off until an operator resumes it.
    const damaged = read.kind === 'unreadable';
    if (damaged) log.error({ file: path }, `[RISK] ${path} is unreadable (${read.message}): trading stays PAUSED until an operator resumes it`);
    const enabled = envOverride === false || damaged ? false : (persisted?.trading_enabled ?? envOverride ?? true);
    this.state = persisted && persisted.trading_enabled === enabled
      ? persisted
      : {
          trading_enabled: enabled, updated_at: new Date().toISOString(), actor: 'startup',
          reason: damaged ? 'state file unreadable at start' : envOverride === false ? 'TRADING_ENABLED=false' : 'default',
        };
    writeJsonAtomic(path, this.state);
    this.metrics?.tradingEnabled.set({ scope: 'global' }, enabled ? 1 : 0);
  }

  get enabled(): boolean {
    return this.state.trading_enabled;
  }

  get current(): TradingStateFile {
    return this.state;
  }

  /** Sets the flag everywhere; resolves once every engine has applied it. Calls are serialised. */
  set(enabled: boolean, actor: string, reason: string, opts: { cancelOpen?: boolean } = {}): Promise<{ state: TradingStateFile; canceled: number; unreachable: string[] }> {
    const run = async () => {
      const previous = this.state.trading_enabled;
      this.state = { trading_enabled: enabled, updated_at: new Date().toISOString(), actor, reason };
      writeJsonAtomic(this.path, this.state);
      // Every engine that answers applies the flag before we return; one that does not is
      // named (it learns the persisted decision from the bus or at its next start) rather
      // than failing the kill for all the others.
      const engines = this.engines();
      const results = await Promise.allSettled(engines.map((e) => e.setTradingEnabled(enabled, actor, reason)));
      const unreachable = engines.filter((_, i) => results[i]!.status === 'rejected').map((e) => e.name);
      if (unreachable.length > 0) {
        const line = `[RISK] kill switch (${enabled ? 'resume' : 'pause'}) did not reach ${unreachable.join(', ')}`;
        this.log.error({ unreachable }, line);
        this.bus.publish('alert', { severity: 'CRITICAL', title: 'Kill switch incomplete', message: line, key: 'kill_switch:unreachable', ts: Date.now() });
      }
      let canceled = 0;
      if (!enabled && opts.cancelOpen) {
        for (const e of engines) {
          if (unreachable.includes(e.name)) continue;
          canceled += await e.cancelAllOpen(actor).catch(() => 0);
        }
      }
      this.metrics?.tradingEnabled.set({ scope: 'global' }, enabled ? 1 : 0);
      if (previous !== enabled) {
        const line = `[RISK] Trading ${enabled ? 'RESUMED' : 'PAUSED (kill switch)'} by ${actor}: ${reason}`;
        this.log.warn({ actor, canceled }, line);
        this.bus.publish('alert', { severity: enabled ? 'INFO' : 'CRITICAL', title: enabled ? 'Trading resumed' : 'Trading paused', message: line, key: enabled ? 'kill_switch:resumed' : 'kill_switch:paused', ts: Date.now() });
      }
      this.bus.publish('trading.state', { tradingEnabled: enabled, actor, reason, ts: Date.now() });
      return { state: this.state, canceled, unreachable };
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
