// Bars survive a CSV round trip exactly, and a bad file is refused naming the line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticMarket } from '../../../src/market/synthetic.js';
import { CSV_BAR_HEADER, formatBarsCsv, parseBarsCsv, readBarsCsv, writeBarsCsv } from '../../../src/market/csvBars.js';

test('synthetic bars round-trip through CSV exactly, in memory and on disk', async () => {
  const bars = new SyntheticMarket({ seed: 9 }).generate(500);
  const text = formatBarsCsv(bars);
  assert.ok(text.startsWith(CSV_BAR_HEADER + '\n'));
  const parsed = parseBarsCsv(text);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.bars, bars);

  const dir = mkdtempSync(join(tmpdir(), 'csvbars-'));
  try {
    const path = join(dir, 'bars.csv');
    writeBarsCsv(path, bars);
    const back = await readBarsCsv(path);
    assert.ok(back.ok);
    assert.deepEqual(back.bars, bars);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CRLF line endings and a blank trailing line are accepted', () => {
  const r = parseBarsCsv(`${CSV_BAR_HEADER}\r\n1000,BTCUSDT,10,12,9,11,3.5\r\n\r\n`);
  assert.ok(r.ok);
  assert.deepEqual(r.bars, [{ symbol: 'BTCUSDT', ts: 1000, open: 10, high: 12, low: 9, close: 11, volume: 3.5 }]);
});

const good = '1000,BTCUSDT,10,12,9,11,3';
const cases: [string, string, string, number][] = [
  ['wrong header', 'time,sym,o,h,l,c,v\n' + good, 'CSV_HEADER', 1],
  ['missing column', `${CSV_BAR_HEADER}\n${good}\n2000,BTCUSDT,10,12,9,11`, 'CSV_COLUMNS', 3],
  ['not a number', `${CSV_BAR_HEADER}\n${good}\n2000,BTCUSDT,10,abc,9,11,3`, 'CSV_NUMBER', 3],
  ['negative price', `${CSV_BAR_HEADER}\n2000,BTCUSDT,-10,12,9,11,3`, 'CSV_NUMBER', 2],
  ['high below close', `${CSV_BAR_HEADER}\n${good}\n2000,BTCUSDT,10,10.5,9,11,3`, 'CSV_OHLC', 3],
  ['bad timestamp', `${CSV_BAR_HEADER}\n12:00,BTCUSDT,10,12,9,11,3`, 'CSV_TS', 2],
  ['bad symbol', `${CSV_BAR_HEADER}\n1000,btc-usdt,10,12,9,11,3`, 'CSV_SYMBOL', 2],
  ['time going backwards', `${CSV_BAR_HEADER}\n${good}\n1000,BTCUSDT,10,12,9,11,3`, 'CSV_ORDER', 3],
  ['empty file', '', 'CSV_EMPTY', 1],
];
for (const [name, text, code, line] of cases) {
  test(`CSV refuses ${name} with ${code} naming line ${line}`, () => {
    const r = parseBarsCsv(text);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.code, code);
    assert.equal(r.line, line);
    assert.match(r.message, new RegExp(`^line ${line}: `));
  });
}

test('a file read error names the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'csvbars-'));
  try {
    const path = join(dir, 'bad.csv');
    writeFileSync(path, `${CSV_BAR_HEADER}\n1,BTCUSDT,1,1,1,x,1\n`);
    const r = await readBarsCsv(path);
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.message.includes(path) && r.message.includes('line 2'), r.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
