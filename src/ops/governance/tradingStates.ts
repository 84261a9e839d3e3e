// The control plane's side of the one trading state (core/tradingState.ts): graded states
// (ACTIVE / REDUCING / HALTED) set globally, per venue (engine) and per model, each with the
// reason and actor that set it; the kill switch is the global HALTED (killSwitch.ts is its
// runbook face). Latched: a state stays until someone sets another one. One path for every
// change, whoever makes it (POST /kill, POST /trading/state, governance):
//   1. the document gets a new version (from the shared Redis document when replicas share it,
//      else from this file) and is persisted atomically in ops/trading_states.json;
//   2. it is pushed to every engine at once (allSettled): set() resolves once every engine that
//      answers enforces it (and drained, for a HALTED with cancel_open); one that does not
//      answer is named in the answer, the log and an alert, and is retried until it applies it;
//   3. it is announced once on the bus as `trading.state` carrying the whole document, which
//      engines and other ops replicas apply by version (a version already applied is ignored);
//   4. it is exported as hmm_trading_state{scope,target} and logged with actor and reason.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import type { Bus } from '../../bus/bus.js';
import type { TradingStatePayload } from '../../bus/topics.js';
import { type Clock, WallClock } from '../../core/clock.js';
import {
  type EngineTradingStates, type TradingCondition, type TradingConditionKind, type TradingStateView, type TradingScope, type TradingState, type TradingStateDocument, type TradingStateEntry,
  engineView, entryAt, initialTradingStateDocument, nextTradingStateVersion, parseTradingStateDocument, tradingEnabledBy,
  tradingStateRank, viewWithConditions, withEntry,
} from '../../core/tradingState.js';
import { reportStorageFault } from '../../util/storageHealth.js';
import type { EngineHandle } from '../../engine/engineHandle.js';
import type { Logger } from '../../obs/logger.js';
import type { Metrics } from '../../obs/metrics.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';

export type { TradingScope, TradingStateEntry } from '../../core/tradingState.js';
/** The persisted document (kept under its old name for the routes and the governance daemon). */
export type TradingStatesDoc = TradingStateDocument;

export interface TradingStateChange {
  readonly scope: TradingScope;
  readonly target: string | null;
  readonly previous: TradingStateEntry | null;
  readonly entry: TradingStateEntry;
  readonly changed: boolean;
  readonly document: TradingStateDocument;
  /** Engines that did not answer the push: they get the document when they answer again. */
  readonly unreachable: readonly string[];
  /** Open orders canceled by a HALTED with cancel_open, over the engines that answered. */
  readonly canceled: number;
}

export interface PushResult {
  readonly version: number;
  readonly unreachable: readonly string[];
  readonly canceled: number;
}

/** Where a change gets its version when several ops replicas share the document (Redis): the
 *  entry is applied to the shared document atomically, so two replicas changing different
 *  entries at once both land, and the returned document (with every other replica's changes) is
 *  what this replica persists and pushes. */
export interface TradingStateReplica {
  commit(scope: TradingScope, target: string | null, entry: TradingStateEntry, base: TradingStateDocument, nowMs: number): Promise<TradingStateDocument>;
}

export interface TradingStatesOptions {
  /** ops/trading_states.json */
  readonly path: string;
  /** ops/state.json of the old kill switch: read once at start for migration, then renamed. */
  readonly legacyKillPath?: string | null;
  readonly engines: () => readonly EngineHandle[];
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: Metrics | null;
  /** TRADING_ENABLED at start: an explicit false halts globally (safe); null/true keep the file's. */
  readonly tradingEnabledAtStart?: boolean | null;
  readonly clock?: Clock;
  readonly replica?: TradingStateReplica | null;
  /** How often an engine that missed a push is tried again. */
  readonly retryMs?: number;
}

/** How a change is worded: the runbook's kill switch, or a graded state. */
export type ChangeSource = 'kill' | 'state';

export class TradingStates {
  private doc: TradingStateDocument;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Engines that did not answer the last push of the current document. */
  private readonly behind = new Set<string>();
  private retryTimer: ReturnType<Clock['setInterval']> | null = null;
  private retrying = false;
  /** The document in memory is newer than ops/trading_states.json (the disk refused the write). */
  private unsaved = false;
  /** By kind and source: one STORAGE condition per disk (this process's, each engine's). */
  private readonly conditionsByKey = new Map<string, TradingCondition>();

  constructor(private readonly o: TradingStatesOptions) {
    this.clock = o.clock ?? new WallClock();
    this.log = o.log;
    const now = this.iso();
    let doc = this.load(now);
    doc = this.migrateLegacyKill(doc, now);
    if (o.tradingEnabledAtStart === false && doc.global.state !== 'HALTED') {
      // An explicit TRADING_ENABLED=false at start always wins (safe); otherwise the last
      // decision persists across restarts.
      doc = withEntry(doc, 'global', null, { state: 'HALTED', reason: 'TRADING_ENABLED=false', actor: 'startup', updated_at: now }, nextTradingStateVersion(doc.version, this.clock.now()));
      this.log.warn('[RISK] TRADING_ENABLED=false at start: trading HALTED globally until an operator resumes it');
    }
    this.doc = doc;
    // On a full disk the document holds in memory and is written once writes succeed
    // (persist: reported to the root's storage health, saveIfUnsaved), not a failed start.
    this.persist();
    this.exportGauges();
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private load(now: string): TradingStateDocument {
    if (!existsSync(this.o.path)) return initialTradingStateDocument(now);
    try {
      return parseTradingStateDocument(JSON.parse(readFileSync(this.o.path, 'utf8')));
    } catch (err) {
      // A state file we cannot read may have held a HALTED: fail safe, and say so loudly.
      const message = (err as Error).message;
      this.log.error({ file: this.o.path }, `[GOV] ${this.o.path} is unreadable (${message}): trading HALTED globally until an operator sets the state`);
      return {
        ...initialTradingStateDocument(now, nextTradingStateVersion(0, this.clock.now())),
        global: { state: 'HALTED', reason: `ops/trading_states.json unreadable (${message}); fix or delete it, then set the state again`, actor: 'startup', updated_at: now },
      };
    }
  }

  /** The old kill switch's ops/state.json, read once: a pause in it becomes the global HALTED (a
   *  damaged one too: we do not know that decision), then the file is renamed *.migrated. */
  private migrateLegacyKill(doc: TradingStateDocument, now: string): TradingStateDocument {
    const path = this.o.legacyKillPath;
    if (!path || !existsSync(path)) return doc;
    let enabled: boolean | null = null;
    let actor = 'startup';
    let reason = 'ops/state.json unreadable at migration';
    let at = now;
    try {
      const old = JSON.parse(readFileSync(path, 'utf8')) as { trading_enabled?: unknown; actor?: unknown; reason?: unknown; updated_at?: unknown };
      if (typeof old.trading_enabled === 'boolean') {
        enabled = old.trading_enabled;
        actor = String(old.actor ?? 'unknown');
        reason = String(old.reason ?? '');
        at = typeof old.updated_at === 'string' && old.updated_at !== '' ? old.updated_at : now;
      }
    } catch { /* damaged: fail safe below */ }
    const out = enabled === false || enabled === null
      ? (doc.global.state === 'HALTED' ? doc : withEntry(doc, 'global', null, { state: 'HALTED', reason, actor, updated_at: at }, nextTradingStateVersion(doc.version, this.clock.now())))
      : doc;
    try {
      renameSync(path, `${path}.migrated`);
    } catch (err) {
      this.log.error({ file: path }, `[RISK] could not rename ${path} after migrating it (${(err as Error).message}); it will be read again at the next start`);
    }
    const line = `[RISK] kill switch migrated from ${path} (trading_enabled ${enabled === null ? 'unreadable' : String(enabled)}) into ${this.o.path}: global ${out.global.state}; ${path} is no longer read (kept as ${path}.migrated)`;
    if (out.global.state === 'HALTED') this.log.warn({ file: path }, line);
    else this.log.info({ file: path }, line);
    return out;
  }

  get current(): TradingStateDocument {
    return this.doc;
  }

  /** TRADING_ENABLED: the global state is not HALTED. */
  get enabled(): boolean {
    return tradingEnabledBy(this.doc);
  }

  get(scope: TradingScope, target: string | null): TradingStateEntry | null {
    return entryAt(this.doc, scope, target);
  }

  /** What one engine enforces: global, its own venue entry, and every model's entry. */
  viewFor(engineName: string): EngineTradingStates {
    return engineView(this.doc, engineName);
  }

  /** Pushes the current document to the engines (at start-up, at a takeover, to engines that
   *  missed it). Never throws: an engine that does not answer is named and retried. */
  pushAll(engines: readonly EngineHandle[] = this.o.engines()): Promise<PushResult> {
    return this.serial(() => this.push(this.doc, engines, 'state'));
  }

  /** Sets one state; resolves after every engine that answers enforces it. Calls are serialised. */
  set(scope: TradingScope, target: string | null, state: TradingState, actor: string, reason: string, opts: { readonly cancelOpen?: boolean; readonly source?: ChangeSource } = {}): Promise<TradingStateChange> {
    return this.serial(async (): Promise<TradingStateChange> => {
      const previous = this.get(scope, target);
      const entry: TradingStateEntry = { state, reason, actor, updated_at: this.iso(), ...(state === 'HALTED' && opts.cancelOpen === true ? { cancel_open: true } : {}) };
      this.doc = await this.nextDocument(scope, target, entry);
      this.persist();
      this.exportGauges();
      const source = opts.source ?? 'state';
      const pushed = await this.push(this.doc, this.o.engines(), source);
      const before = previous?.state ?? 'ACTIVE';
      const changed = before !== state;
      if (changed) this.announceChange(scope, target, before, entry, source);
      const payload: TradingStatePayload = { document: this.doc, scope, target, state, tradingEnabled: this.enabled, actor, reason, ts: this.clock.now() };
      this.o.bus.publish('trading.state', payload);
      return { scope, target, previous, entry, changed, document: this.doc, unreachable: pushed.unreachable, canceled: pushed.canceled };
    });
  }

  /**
   * A document decided by another ops replica (from the bus or the shared store): taken if newer
   * than ours, persisted and exported. Not pushed: the replica that decided it pushed it, and
   * the engines take the same bus event themselves.
   */
  adopt(doc: TradingStateDocument, from: string): Promise<boolean> {
    return this.serial(async () => {
      if (doc.version <= this.doc.version) return false;
      const before = this.doc;
      this.doc = doc;
      this.persist();
      this.exportGauges();
      for (const [scope, target, entry] of entriesOf(doc)) {
        const was = entryAt(before, scope, target)?.state ?? 'ACTIVE';
        if (was !== entry.state) this.log.info({ scope, target, state: entry.state, previous: was, actor: entry.actor, version: doc.version }, `[GOV] trading ${entry.state} (${where(scope, target)}) by ${entry.actor}, taken from ${from} (v${doc.version}): ${entry.reason}`);
      }
      return true;
    });
  }

  /**
   * Writes the document. A disk that refuses the write does not undo the change: a kill must
   * hold even on a full disk (it is applied and pushed all the same), the file is written again
   * once writes succeed (saveIfUnsaved), and until then a restart would read the older file;
   * the ERROR says so.
   */
  private persist(): void {
    try {
      writeJsonAtomic(this.o.path, this.doc);
      this.unsaved = false;
    } catch (err) {
      if (!reportStorageFault(this.o.path, err)) throw err;
      this.unsaved = true;
      this.log.error({ file: this.o.path, version: this.doc.version }, `[GOV] trading state v${this.doc.version} applied but NOT saved to ${this.o.path} (${(err as Error).message}): it is saved once the disk takes writes; a restart before then reads the older file`);
    }
  }

  /** After a storage fault clears: writes the document the disk refused. */
  saveIfUnsaved(): void {
    if (!this.unsaved) return;
    this.persist();
    if (!this.unsaved) this.log.warn({ file: this.o.path, version: this.doc.version }, `[GOV] trading state v${this.doc.version} saved to ${this.o.path} now that the disk takes writes`);
  }

  /** Sets or lifts the condition (STORAGE) of one source (this process, or an engine whose
   *  disk it is). Conditions are the stack's own: not versioned, not persisted, not pushed (each
   *  process enforces the fault of its own disk; the control plane shows its engines'). */
  setCondition(kind: TradingConditionKind, source: string, condition: Omit<TradingCondition, 'kind' | 'source'> | null): void {
    const key = `${kind}\u0000${source}`;
    if (condition === null) this.conditionsByKey.delete(key);
    else this.conditionsByKey.set(key, { kind, source, ...condition });
    const standing = [...this.conditionsByKey.values()].some((c) => c.kind === kind);
    this.o.metrics?.tradingState.set({ scope: 'condition', target: kind }, standing ? tradingStateRank('HALTED') : 0);
  }

  get conditions(): readonly TradingCondition[] {
    return [...this.conditionsByKey.values()];
  }

  /** The document with the conditions that stand now (GET /trading/state, /status). */
  get view(): TradingStateView {
    return viewWithConditions(this.doc, this.conditions);
  }

  /** Tries the engines that missed the current document again (the retry timer calls this). */
  async catchUp(): Promise<PushResult> {
    const names = new Set(this.behind);
    if (names.size === 0) return { version: this.doc.version, unreachable: [], canceled: 0 };
    return this.serial(() => this.push(this.doc, this.o.engines().filter((e) => names.has(e.name)), 'state', true));
  }

  close(): void {
    this.clock.clear(this.retryTimer);
    this.retryTimer = null;
  }

  private serial<T>(run: () => Promise<T>): Promise<T> {
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async nextDocument(scope: TradingScope, target: string | null, entry: TradingStateEntry): Promise<TradingStateDocument> {
    const replica = this.o.replica;
    if (replica) {
      try {
        return await replica.commit(scope, target, entry, this.doc, this.clock.now());
      } catch (err) {
        // A stop must not wait for Redis: decide here, and let replication store it when Redis answers.
        this.log.error({ err }, `[GOV] the shared trading state could not be updated (${(err as Error).message}): applied from this replica only; the other replicas take it when Redis answers`);
      }
    }
    return withEntry(this.doc, scope, target, entry, nextTradingStateVersion(this.doc.version, this.clock.now()));
  }

  private async push(doc: TradingStateDocument, engines: readonly EngineHandle[], source: ChangeSource, retry = false): Promise<PushResult> {
    const results = await Promise.allSettled(engines.map((e) => e.applyTradingState(doc)));
    const unreachable: string[] = [];
    let canceled = 0;
    results.forEach((r, i) => {
      const name = engines[i]!.name;
      if (r.status === 'fulfilled') {
        canceled += r.value.canceled;
        if (this.behind.delete(name)) this.log.warn({ engine: name, version: doc.version }, `[RISK] ${name} reached again: trading state v${doc.version} (global ${doc.global.state}) ${r.value.applied ? 'applied' : 'already applied'}`);
      } else {
        unreachable.push(name);
        this.behind.add(name);
      }
    });
    if (unreachable.length > 0 && !retry) {
      const errors = unreachable.map((n) => `${n} (${String((results[engines.findIndex((e) => e.name === n)] as PromiseRejectedResult).reason?.message ?? 'no answer')})`);
      const line = source === 'kill'
        ? `[RISK] kill switch (${tradingEnabledBy(doc) ? 'resume' : 'pause'}) did not reach ${errors.join(', ')}`
        : `[RISK] trading state v${doc.version} did not reach ${errors.join(', ')}`;
      this.log.error({ unreachable, version: doc.version }, `${line}; retried every ${Math.round((this.o.retryMs ?? 5_000) / 1000)} s until applied`);
      this.o.bus.publish('alert', {
        severity: 'CRITICAL', title: source === 'kill' ? 'Kill switch incomplete' : 'Trading state incomplete', message: line,
        key: source === 'kill' ? 'kill_switch:unreachable' : 'trading_state:unreachable', ts: this.clock.now(),
      });
    }
    this.scheduleRetry();
    return { version: doc.version, unreachable, canceled };
  }

  private scheduleRetry(): void {
    if (this.behind.size === 0) {
      this.close();
      return;
    }
    if (this.retryTimer !== null) return;
    this.retryTimer = this.clock.setInterval(() => {
      if (this.retrying) return;
      this.retrying = true;
      void this.catchUp().catch(() => undefined).finally(() => { this.retrying = false; });
    }, this.o.retryMs ?? 5_000);
  }

  private announceChange(scope: TradingScope, target: string | null, before: TradingState, entry: TradingStateEntry, source: ChangeSource): void {
    const { state, actor, reason } = entry;
    const ts = this.clock.now();
    if (source === 'kill' && scope === 'global') {
      const resumed = state !== 'HALTED';
      const line = `[RISK] Trading ${resumed ? 'RESUMED' : 'PAUSED (kill switch)'} by ${actor}: ${reason}`;
      this.log.warn({ actor, version: this.doc.version, cancel_open: entry.cancel_open === true }, line);
      this.o.bus.publish('alert', { severity: resumed ? 'INFO' : 'CRITICAL', title: resumed ? 'Trading resumed' : 'Trading paused', message: line, key: resumed ? 'kill_switch:resumed' : 'kill_switch:paused', ts });
      return;
    }
    const at = where(scope, target);
    const worse = tradingStateRank(state) > tradingStateRank(before);
    const line = `[GOV] ${state === 'ACTIVE' ? '▶️' : state === 'REDUCING' ? '⏬' : '⏸️'} Trading ${state} (${at}) by ${actor}: ${reason}`;
    const fields = { scope, target, state, previous: before, actor, version: this.doc.version };
    if (worse) this.log.warn(fields, line);
    else this.log.info(fields, line);
    this.o.bus.publish('alert', {
      severity: state === 'HALTED' ? 'CRITICAL' : state === 'REDUCING' ? 'WARNING' : 'INFO',
      title: `Trading ${state} (${at})`,
      message: `${at}: ${before} → ${state} by ${actor}: ${reason}`,
      // Keyed by the new state too: a HALTED and the ACTIVE after it are two messages, not one repeat.
      key: `trading_state:${scope}:${target ?? ''}:${state}`,
      ts,
    });
  }

  private exportGauges(): void {
    this.o.metrics?.tradingEnabled.set({ scope: 'global' }, this.enabled ? 1 : 0);
    const g = this.o.metrics?.tradingState;
    if (!g) return;
    for (const [scope, target, e] of entriesOf(this.doc)) g.set({ scope, target: target ?? 'global' }, tradingStateRank(e.state));
  }
}

const where = (scope: TradingScope, target: string | null): string => (scope === 'global' ? 'global' : `${scope} ${target ?? ''}`);

function entriesOf(doc: TradingStateDocument): [TradingScope, string | null, TradingStateEntry][] {
  return [
    ['global', null, doc.global],
    ...Object.entries(doc.venues).map(([t, e]): [TradingScope, string, TradingStateEntry] => ['venue', t, e]),
    ...Object.entries(doc.models).map(([t, e]): [TradingScope, string, TradingStateEntry] => ['model', t, e]),
  ];
}
