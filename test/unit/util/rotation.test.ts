// Log rotation (util/rotatingFile.ts, ops/logsPolicy.ts): no line lost or split across a
// rotation, gzip of rotated files, rotation by day, retention, repair after a crash.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { RotatingFile, type RotationEvent, type RotationPolicy } from '../../../src/util/rotatingFile.js';
import { parseLogsPolicy, rotationOf, DEFAULT_LOGS_POLICY } from '../../../src/ops/logsPolicy.js';
import { parsePolicies } from '../../../src/ops/policies.js';
import { Scratch } from '../../support/scratch.js';

// Each test's own directory, all removed when the file is done.
const scratch = new Scratch('rot');
after(() => scratch.cleanup());

const policy = (p: Partial<RotationPolicy> = {}): RotationPolicy => ({ maxBytes: 1024, daily: true, compress: true, retentionDays: 0, maxFiles: 0, ...p });

function readAllLines(dir: string, live: string): string[] {
  const lines: string[] = [];
  const rotated = readdirSync(dir).filter((n) => /^orders\.\d{4}-\d{2}-\d{2}\.\d+\.jsonl(\.gz)?$/.test(n))
    .sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]) || a.localeCompare(b));
  for (const name of rotated) {
    const buf = readFileSync(join(dir, name));
    const text = name.endsWith('.gz') ? gunzipSync(buf).toString('utf8') : buf.toString('utf8');
    assert.ok(text.endsWith('\n'), `${name} ends with a whole line`);
    lines.push(...text.split('\n').slice(0, -1));
  }
  const text = readFileSync(live, 'utf8');
  if (text.length > 0) lines.push(...text.split('\n').slice(0, -1));
  return lines;
}

test('size rotation: every line survives exactly once, whole, across many rotations; rotated files are gzipped', async () => {
  const dir = scratch.root('log');
  const path = join(dir, 'orders.jsonl');
  const events: RotationEvent[] = [];
  const f = new RotatingFile(path, policy({ maxBytes: 2048 }), { onEvent: (e) => events.push(e) });
  const N = 2000;
  for (let i = 0; i < N; i++) f.write(JSON.stringify({ ts: new Date().toISOString(), i, pad: 'x'.repeat(i % 97) }) + '\n');
  await f.settle();
  f.close();
  const lines = readAllLines(dir, path);
  assert.equal(lines.length, N);
  lines.forEach((l, i) => assert.equal((JSON.parse(l) as { i: number }).i, i));
  const names = readdirSync(dir);
  const gz = names.filter((n) => n.endsWith('.jsonl.gz'));
  assert.ok(gz.length > 10, `rotated ${gz.length} times`);
  assert.equal(names.filter((n) => /\.\d+\.jsonl$/.test(n)).length, 0, 'no uncompressed rotated file left');
  assert.ok(!names.some((n) => n.endsWith('.tmp')));
  // Every rotated file stays within the limit (a line is never split to fit).
  for (const n of gz) assert.ok(gunzipSync(readFileSync(join(dir, n))).length <= 2048);
  await new Promise((r) => setImmediate(r));
  assert.ok(events.some((e) => e.kind === 'rotated' && e.reason === 'size'));
  assert.ok(events.some((e) => e.kind === 'compressed'));
});

test('day rotation: the first write after UTC midnight starts a new live file; the old day is named by its date', async () => {
  const dir = scratch.root('log');
  const path = join(dir, 'orders.jsonl');
  let now = Date.parse('2025-03-01T23:59:59.000Z');
  const f = new RotatingFile(path, policy({ maxBytes: 0, compress: false }), { now: () => now });
  f.write('{"ts":"2025-03-01T23:59:59.000Z","n":1}\n');
  f.write('{"ts":"2025-03-01T23:59:59.500Z","n":2}\n');
  now = Date.parse('2025-03-02T00:00:00.001Z');
  f.write('{"ts":"2025-03-02T00:00:00.001Z","n":3}\n');
  f.close();
  assert.equal(readFileSync(join(dir, 'orders.2025-03-01.1.jsonl'), 'utf8').trim().split('\n').length, 2);
  assert.equal(readFileSync(path, 'utf8'), '{"ts":"2025-03-02T00:00:00.001Z","n":3}\n');
  // Re-opened a day later with an old live file: rotated at open, named by its first line's day.
  now = Date.parse('2025-03-04T08:00:00Z');
  const g = new RotatingFile(path, policy({ maxBytes: 0, compress: false }), { now: () => now });
  g.close();
  assert.ok(existsSync(join(dir, 'orders.2025-03-02.1.jsonl')));
  assert.equal(readFileSync(path, 'utf8'), '');
});

test('retention: rotated files older than retention_days and beyond max_files are deleted, the live file never', async () => {
  const dir = scratch.root('log');
  const path = join(dir, 'orders.jsonl');
  for (const d of ['2025-01-01', '2025-01-05', '2025-01-09', '2025-01-10']) writeFileSync(join(dir, `orders.${d}.1.jsonl.gz`), gzipSync('{}\n'));
  writeFileSync(join(dir, 'other.2025-01-01.1.jsonl.gz'), gzipSync('{}\n'));
  writeFileSync(path, '{"ts":"2025-01-10T01:00:00Z"}\n');
  const now = () => Date.parse('2025-01-10T12:00:00Z');
  const f = new RotatingFile(path, policy({ retentionDays: 7, maxFiles: 0 }), { now });
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('orders.2025')).sort(), ['orders.2025-01-05.1.jsonl.gz', 'orders.2025-01-09.1.jsonl.gz', 'orders.2025-01-10.1.jsonl.gz']);
  f.setPolicy(policy({ retentionDays: 7, maxFiles: 2 }));
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('orders.2025')).sort(), ['orders.2025-01-09.1.jsonl.gz', 'orders.2025-01-10.1.jsonl.gz']);
  assert.ok(existsSync(join(dir, 'other.2025-01-01.1.jsonl.gz')), 'another log\'s files are not touched');
  assert.equal(readFileSync(path, 'utf8'), '{"ts":"2025-01-10T01:00:00Z"}\n');
  f.close();
});

test('after a crash: a torn last line is cut off and kept aside, an interrupted compression is finished', async () => {
  const dir = scratch.root('log');
  const path = join(dir, 'orders.jsonl');
  writeFileSync(path, '{"ts":"2025-01-10T01:00:00Z","n":1}\n{"ts":"2025-01-10T01:00:01Z","n":2}\n{"ts":"2025-01-10T01:0');
  writeFileSync(join(dir, 'orders.2025-01-09.1.jsonl'), '{"n":0}\n');
  writeFileSync(join(dir, 'orders.2025-01-09.1.jsonl.gz.tmp'), 'partial');
  const events: RotationEvent[] = [];
  const f = new RotatingFile(path, policy({ maxBytes: 0, daily: false }), { onEvent: (e) => events.push(e) });
  f.write('{"n":3}\n');
  await f.settle();
  f.close();
  const lines = readFileSync(path, 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as { n: number });
  assert.deepEqual(lines.map((l) => l.n), [1, 2, 3]);
  assert.equal(readFileSync(`${path}.torn`, 'utf8'), '{"ts":"2025-01-10T01:0\n');
  assert.equal(gunzipSync(readFileSync(join(dir, 'orders.2025-01-09.1.jsonl.gz'))).toString(), '{"n":0}\n');
  assert.ok(!existsSync(join(dir, 'orders.2025-01-09.1.jsonl')));
  assert.ok(!existsSync(join(dir, 'orders.2025-01-09.1.jsonl.gz.tmp')));
  await new Promise((r) => setImmediate(r));
  assert.ok(events.some((e) => e.kind === 'repaired' && e.bytes === '{"ts":"2025-01-10T01:0'.length));
});

test('a reader of the live name always sees whole lines while rotation happens', async () => {
  const dir = scratch.root('log');
  const path = join(dir, 'ops.log');
  const f = new RotatingFile(path, policy({ maxBytes: 4096 }));
  for (let i = 0; i < 3000; i++) {
    f.write(JSON.stringify({ level: 'INFO', time: new Date().toISOString(), msg: `line ${i}` }) + '\n');
    if (i % 50 === 0) {
      // What `tail -n 50 ops/logs/ops.log | grep ERROR` reads: complete JSON lines only.
      const text = readFileSync(path, 'utf8');
      assert.ok(text === '' || text.endsWith('\n'));
      for (const l of text.split('\n').slice(0, -1)) JSON.parse(l);
    }
  }
  await f.settle();
  f.close();
  appendFileSync(path, '');
  assert.ok(readdirSync(dir).some((n) => /^ops\.\d{4}-\d{2}-\d{2}\.\d+\.log\.gz$/.test(n)));
});

test('policies.yaml logs: validated key by key; defaults when absent', () => {
  assert.deepEqual(parseLogsPolicy(undefined), DEFAULT_LOGS_POLICY);
  const p = parseLogsPolicy({ rotate_max_mb: 0.5, rotate_daily: false, compress: true, retention_days: 3, max_files: 9 });
  assert.deepEqual(rotationOf(p), { maxBytes: 524_288, daily: false, compress: true, retentionDays: 3, maxFiles: 9 });
  assert.throws(() => parseLogsPolicy({ rotate_max_mb: -1 }), /logs\.rotate_max_mb/);
  assert.throws(() => parseLogsPolicy({ retention_days: 1.5 }), /logs\.retention_days/);
  assert.throws(() => parseLogsPolicy({ compress: 'yes' }), /logs\.compress/);
  assert.throws(() => parseLogsPolicy({ rotate_mb: 5 }), /unknown key "logs\.rotate_mb"/);
  assert.throws(() => parseLogsPolicy([1]), /logs must be a mapping/);
  assert.throws(() => parsePolicies('logs:\n  max_files: many\n'), /logs\.max_files/);
  assert.equal(parsePolicies(readFileSync(new URL('../../../ops/policies.yaml', import.meta.url), 'utf8')).logs.rotate_max_mb, 50);
});

test('damage anywhere in the live file: with a validator, each bad line (even across the 1 MB read blocks) is quarantined to <file>.damaged with its line number; the sound lines stay, in order; without damage nothing is rewritten', async () => {
  const dir = scratch.root('log');
  const path = join(dir, 'orders.jsonl');
  const validate = (l: string) => { try { const v = JSON.parse(l) as { i?: unknown }; return typeof v.i === 'number' ? null : 'no i'; } catch { return 'not JSON'; } };
  // ~2.4 MB: lines straddle the block boundaries; damage at the start, in the middle, at the end.
  const sound = Array.from({ length: 12_000 }, (_, i) => JSON.stringify({ i, pad: 'y'.repeat(150 + (i % 61)) }));
  const bad = new Map<number, string>([[0, '{torn'], [6_001, '{"x":1}'], [12_001, 'garbage at the end']]);
  const all: string[] = [];
  for (let i = 0, s = 0; s < sound.length || bad.has(i); i++) all.push(bad.get(i) ?? sound[s++]!);
  writeFileSync(path, `${all.join('\n')}\n`);
  const events: RotationEvent[] = [];
  const f = new RotatingFile(path, policy({ maxBytes: 0, daily: false }), { validateLine: validate, onEvent: (e) => events.push(e) });
  assert.deepEqual(f.damaged.map((d) => [d.line, d.reason, d.text]), [[1, 'not JSON', '{torn'], [6_002, 'no i', '{"x":1}'], [12_002, 'not JSON', 'garbage at the end']]);
  assert.equal(readFileSync(`${path}.damaged`, 'utf8'), '{torn\n{"x":1}\ngarbage at the end\n');
  f.write('{"i":-1}\n');
  f.close();
  assert.deepEqual(readFileSync(path, 'utf8').split('\n').slice(0, -1), [...sound, '{"i":-1}'], 'every sound line kept, in order, and appends go on');
  await new Promise((r) => setImmediate(r));
  assert.ok(events.some((e) => e.kind === 'quarantined' && e.lines === 3));
  // The counterpart: a sound file is not rewritten, nothing more is quarantined.
  const before = readFileSync(path);
  const g = new RotatingFile(path, policy({ maxBytes: 0, daily: false }), { validateLine: validate });
  g.close();
  assert.deepEqual(g.damaged, []);
  assert.deepEqual(readFileSync(path), before);
  assert.equal(readFileSync(`${path}.damaged`, 'utf8').split('\n').length, 4);
});

test('damage that cannot be moved aside (the .damaged path unwritable): the open goes on, the lines are still reported, the file is left whole, and an error event says why', async () => {
  const dir = scratch.root('log');
  const path = join(dir, 'orders.jsonl');
  writeFileSync(path, '{"i":1}\nbad\n{"i":2}\n');
  mkdirSync(`${path}.damaged`); // appending to it fails (EISDIR), as on a full or read-only disk
  const events: RotationEvent[] = [];
  const f = new RotatingFile(path, policy({ maxBytes: 0, daily: false }), { validateLine: (l) => (l.startsWith('{') ? null : 'not JSON'), onEvent: (e) => events.push(e) });
  f.write('{"i":3}\n');
  f.close();
  assert.deepEqual(f.damaged.map((d) => d.line), [2]);
  assert.equal(readFileSync(path, 'utf8'), '{"i":1}\nbad\n{"i":2}\n{"i":3}\n', 'nothing removed that was not kept');
  await new Promise((r) => setImmediate(r));
  const err = events.find((e) => e.kind === 'error');
  assert.ok(err && err.kind === 'error' && /could not move 1 damaged line/.test(err.message));
  assert.equal(events.some((e) => e.kind === 'quarantined'), false);
  assert.equal(existsSync(`${path}.quarantine.tmp`), false);
});
