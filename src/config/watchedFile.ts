// An operator-edited file that is reloaded on change: parsed and validated on every edit;
// a bad edit is refused with an ERROR line and the last good value stays in force. An empty or
// whitespace-only file is such a bad edit, never "all defaults": a truncated save or an editor
// that emptied the file must not silently undo the operator's governance. (A missing file is
// the defaults: that is how a fresh root starts.)
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { StackError } from '../core/errors.js';

/** An operator-edited file (or a section of one) that does not validate; the message names
 *  the key and the problem. A config-plane error: no HTTP status (an API that validates a
 *  body with a file's parser answers it 400 itself). */
export class ValidationError extends StackError {
  constructor(message: string) {
    super('HMM_CONFIG_INVALID_FILE', message);
  }
}

export class WatchedFile<T> {
  private value: T;
  private lastText: string | null = null;
  private watcher: FSWatcher | null = null;
  private readonly listeners = new Set<(value: T) => void>();
  readonly label: string;

  /** Loads the file now; throws (stopping start-up, the message naming the file) if it is
   *  invalid or empty: at start-up there is no last good version in memory to keep, and
   *  starting on the defaults would be the silent reinterpretation this refuses. Missing → the default. */
  constructor(
    readonly path: string,
    root: string,
    private readonly parse: (text: string) => T,
    private readonly fallback: () => T,
    private readonly log: Logger,
    private readonly metrics: Metrics | null = null,
  ) {
    this.label = relative(root, path) || path;
    const text = readOrNull(path);
    if (text === null) {
      this.value = fallback();
    } else {
      try {
        this.value = parseNonEmpty(text, parse);
        this.lastText = text;
      } catch (err) {
        throw new Error(`${this.label}: ${(err as Error).message}`);
      }
    }
  }

  get current(): T {
    return this.value;
  }

  onChange(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces the value after a write made by the stack itself (already validated). */
  replace(value: T, text: string): void {
    this.value = value;
    this.lastText = text;
    for (const l of this.listeners) l(value);
  }

  async watch(): Promise<void> {
    this.watcher = chokidar.watch(this.path, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 } });
    this.watcher.on('add', () => this.reload());
    this.watcher.on('change', () => this.reload());
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
  }

  /** Re-reads the file; returns true when a new value took effect. */
  reload(): boolean {
    const text = readOrNull(this.path);
    if (text === null || text === this.lastText) return false;
    try {
      const next = parseNonEmpty(text, this.parse);
      this.value = next;
      this.lastText = text;
      this.metrics?.policyReloads.inc({ file: this.label, result: 'ok' });
      this.log.info({ file: this.label }, `[GOV] ${this.label} reloaded`);
      for (const l of this.listeners) l(next);
      return true;
    } catch (err) {
      this.lastText = text;
      this.metrics?.policyReloads.inc({ file: this.label, result: 'rejected' });
      this.log.error({ file: this.label }, `[GOV] ${this.label} rejected: ${(err as Error).message}; keeping the last good version`);
      return false;
    }
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = null;
  }
}

/** Refuses an empty or whitespace-only text before the parser could read it as "no keys". */
function parseNonEmpty<T>(text: string, parse: (text: string) => T): T {
  if (text.trim() === '') throw new ValidationError('the file is empty; an empty file is refused, not read as the defaults (delete the file to use the defaults)');
  return parse(text);
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
