// engine/state/portfolio.json: a snapshot derived from the ledger, for operators and for a
// fast sanity check at start. Written atomically, coalesced (at most one write per
// interval), and stamped with a sequence number (fills booked) and a checksum, so a stale or
// damaged file is recognised and rebuilt from the ledger.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../util/atomicFile.js';

export interface SnapshotBody {
  readonly seq: number;
  readonly [key: string]: unknown;
}

export function checksumOf(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

export type SnapshotRead =
  | { readonly kind: 'ok'; readonly body: SnapshotBody }
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt'; readonly message: string };

export function readSnapshot(path: string): SnapshotRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { kind: 'missing' };
  }
  try {
    const doc = JSON.parse(text) as { checksum?: string } & SnapshotBody;
    const { checksum, ...body } = doc;
    if (typeof checksum !== 'string' || checksum !== checksumOf(body)) return { kind: 'corrupt', message: 'checksum mismatch' };
    return { kind: 'ok', body: body as SnapshotBody };
  } catch (err) {
    return { kind: 'corrupt', message: `not valid JSON: ${(err as Error).message}` };
  }
}

export class PortfolioSnapshotWriter {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly path: string,
    private readonly build: () => SnapshotBody,
    private readonly intervalMs = 250,
  ) {}

  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.writeNow();
    }, this.intervalMs);
    this.timer.unref();
  }

  writeNow(): void {
    const body = this.build();
    writeJsonAtomic(this.path, { ...body, checksum: checksumOf(body) });
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
