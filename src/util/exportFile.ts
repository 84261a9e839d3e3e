// A file the stack rewrites to show its state to people and tools (ops/aggregate_exposure.json,
// ops/capital_allocations.json and its history): the latest content wins, each write atomic
// (util/atomicFile). Without pacing every refresh is written at once, as before. With pacing
// (ms of host time), refreshes closer together than that are held and only the latest is
// rendered and written when the interval ends, or at flush()/close(). Why host time, not the
// stack's Clock: pacing decides nothing about trading — it is how often a reader polling the
// file can see it change, and that reader lives on host time. A replay stepping a thousand
// bars per host second would otherwise rename each file a thousand times a second (a rename
// over a file costs a few hundred µs here), while its last content is all anyone reads.
import { statSync, type Stats } from 'node:fs';
import { writeFileAtomic } from './atomicFile.js';
import { writeOrReport } from './storageHealth.js';

export type Render = () => string | Promise<string>;

export class ExportFile {
  private held: Render | null = null;
  private lastAt = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> = Promise.resolve();
  private text: string | null = null;
  /** The file as this writer left it: an edit or a delete since shows in its stat. */
  private stat: Stats | null = null;

  /**
   * @param pacingMs 0 (the default) writes every refresh at once.
   * @param onError  a held write that fails is reported here (nothing awaits it).
   */
  constructor(
    readonly path: string,
    private readonly pacingMs = 0,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** The text this writer last wrote, or null before its first write. */
  get written(): string | null {
    return this.text;
  }

  /** Writes `render()` now, or holds it for the end of the pacing interval (replacing what
   *  was held). Written now, a render that throws or a write that fails rejects. */
  async refresh(render: Render): Promise<void> {
    if (this.pacingMs > 0) {
      const now = performance.now();
      if (this.timer !== null || this.held !== null || now - this.lastAt < this.pacingMs) {
        this.held = render;
        if (this.timer === null) {
          this.timer = setTimeout(() => {
            this.timer = null;
            this.flush().catch((err: Error) => this.onError(err));
          }, Math.max(0, this.lastAt + this.pacingMs - now));
          this.timer.unref();
        }
        return;
      }
    }
    return this.run(render);
  }

  /** Writes what is held now (and waits for a write already under way). */
  async flush(): Promise<void> {
    const render = this.held;
    this.held = null;
    if (render !== null) return this.run(render);
    await this.inflight;
  }

  /** Stops the pacing timer and writes what is held: the file ends on the latest content. */
  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }

  // One write at a time, in order of refresh: an async render must not let an older text
  // land after a newer one.
  private run(render: Render): Promise<void> {
    this.lastAt = performance.now();
    const run = this.inflight.then(async () => this.write(await render()));
    this.inflight = run.catch(() => undefined);
    return run;
  }

  private write(text: string): void {
    // The same bytes again (a flat book's exposure, an unchanged state) are not rewritten,
    // unless the file was replaced, edited or deleted since this writer wrote it.
    if (text === this.text && this.stat !== null && sameFile(this.stat, statSync(this.path, { throwIfNoEntry: false }))) return;
    // A full disk skips this write (reported: new orders stop until writes succeed); the text
    // is not remembered as written, so the next refresh writes it.
    if (!writeOrReport(this.path, () => writeFileAtomic(this.path, text))) return;
    this.text = text;
    this.stat = statSync(this.path, { throwIfNoEntry: false }) ?? null;
  }
}

function sameFile(a: Stats, b: Stats | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
