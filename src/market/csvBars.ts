// Bars as CSV (ts,symbol,open,high,low,close,volume, with a header): the format recorded
// data and synthetic runs are exchanged in. Parsing returns errors as values that name the
// line, because a bad data file is an operator problem, not a crash.
import { readFile } from 'node:fs/promises';
import type { Bar } from '../core/marketData.js';
import { symbol as toSymbol } from '../core/ids.js';
import { writeFileAtomic } from '../util/atomicFile.js';

export const CSV_BAR_HEADER = 'ts,symbol,open,high,low,close,volume';

export type CsvBarErrorCode = 'CSV_EMPTY' | 'CSV_HEADER' | 'CSV_COLUMNS' | 'CSV_TS' | 'CSV_SYMBOL' | 'CSV_NUMBER' | 'CSV_OHLC' | 'CSV_ORDER';

export interface CsvBarError {
  readonly code: CsvBarErrorCode;
  /** 1-based line number in the file (the header is line 1). */
  readonly line: number;
  /** Says the line and what is wrong with it, ready for a log. */
  readonly message: string;
}

export type CsvBarsResult = { readonly ok: true; readonly bars: Bar[] } | ({ readonly ok: false } & CsvBarError);

/** Numbers print with JavaScript's shortest round-trip form, so parse(format(bars)) is exact. */
export function formatBarsCsv(bars: readonly Bar[]): string {
  const lines = [CSV_BAR_HEADER];
  for (const b of bars) lines.push(`${b.ts},${b.symbol},${b.open},${b.high},${b.low},${b.close},${b.volume}`);
  return lines.join('\n') + '\n';
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function parseBarsCsv(text: string): CsvBarsResult {
  const lines = text.split(/\r?\n/);
  // A trailing newline leaves one empty last element; it is not a line of data.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return fail('CSV_EMPTY', 1, 'file is empty: expected the header ' + CSV_BAR_HEADER);
  const header = lines[0]!.replace(/^\uFEFF/, '').trim();
  if (header !== CSV_BAR_HEADER) return fail('CSV_HEADER', 1, `header is ${JSON.stringify(header)}, expected ${JSON.stringify(CSV_BAR_HEADER)}`);

  const bars: Bar[] = [];
  const lastTs = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const cols = raw.split(',');
    if (cols.length !== 7) return fail('CSV_COLUMNS', lineNo, `expected 7 columns, found ${cols.length}`);
    const [tsText, symText, ...numTexts] = cols.map((c) => c.trim()) as [string, string, string, string, string, string, string];
    const ts = Number(tsText);
    if (!/^\d+$/.test(tsText) || !Number.isSafeInteger(ts)) return fail('CSV_TS', lineNo, `ts ${JSON.stringify(tsText)} is not epoch milliseconds`);
    let sym;
    try {
      sym = toSymbol(symText);
    } catch {
      return fail('CSV_SYMBOL', lineNo, `symbol ${JSON.stringify(symText)} is not a valid symbol`);
    }
    const names = ['open', 'high', 'low', 'close', 'volume'] as const;
    const values: number[] = [];
    for (let k = 0; k < names.length; k++) {
      const t = numTexts[k]!;
      const v = Number(t);
      if (!NUMBER_RE.test(t) || !Number.isFinite(v)) return fail('CSV_NUMBER', lineNo, `${names[k]} ${JSON.stringify(t)} is not a number`);
      if (k < 4 ? v <= 0 : v < 0) return fail('CSV_NUMBER', lineNo, `${names[k]} ${t} must be ${k < 4 ? 'positive' : 'zero or more'}`);
      values.push(v);
    }
    const [open, high, low, close, volume] = values as [number, number, number, number, number];
    if (low > Math.min(open, close) || high < Math.max(open, close) || low > high) {
      return fail('CSV_OHLC', lineNo, `inconsistent OHLC: open ${open} high ${high} low ${low} close ${close}`);
    }
    const prev = lastTs.get(sym);
    if (prev !== undefined && ts <= prev) return fail('CSV_ORDER', lineNo, `${sym} bar at ${ts} is not after the previous one at ${prev}`);
    lastTs.set(sym, ts);
    bars.push({ symbol: sym, ts, open, high, low, close, volume });
  }
  return { ok: true, bars };
}

export async function readBarsCsv(path: string): Promise<CsvBarsResult> {
  const result = parseBarsCsv(await readFile(path, 'utf8'));
  return result.ok ? result : { ...result, message: `${path}: ${result.message}` };
}

/** Written atomically: a reader never sees half a file. */
export function writeBarsCsv(path: string, bars: readonly Bar[]): void {
  writeFileAtomic(path, formatBarsCsv(bars));
}

function fail(code: CsvBarErrorCode, line: number, detail: string): CsvBarsResult {
  return { ok: false, code, line, message: `line ${line}: ${detail}` };
}
