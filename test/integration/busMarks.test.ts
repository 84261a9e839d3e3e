// A control plane whose ops/bus_marks.json is damaged, against the real Redis at 127.0.0.1:6379
// (its own key prefix, deleted afterwards), through the path `hmm ops` takes (PersistedMarks +
// openBus): the file is set aside and the marks are rebuilt from the stream, so a batch an
// engine's outbox re-sends after the restart (its answer was lost) is dropped, while the next
// new event is taken. Counterpart: a consumer with no marks and no rebuild, on the same stream,
// takes the re-sent copies — they really were there to be taken twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { RedisBus, type StreamEvent } from '../../src/bus/redisBus.js';
import { ProducerMarks } from '../../src/bus/eventIds.js';
import { loadRedisConfig } from '../../src/bus/redisConfig.js';
import { PersistedMarks, openBus } from '../../src/app/processBus.js';
import type { Bus } from '../../src/bus/bus.js';
import type { AlertPayload } from '../../src/bus/topics.js';
import { silentLogger } from '../../src/obs/logger.js';
import { until } from '../support/hmmProcess.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `hmm-test-marks-${randomBytes(4).toString('hex')}:`;
const admin = new Redis(URL, { lazyConnect: true });
const closers: (() => Promise<unknown>)[] = [];
const dir = mkdtempSync(join(tmpdir(), 'hmm-busmarks-'));

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await admin.connect().catch(() => undefined);
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
  rmSync(dir, { recursive: true, force: true });
});

const PRODUCER = 'engine_sim~e1';
const event = (seq: number): StreamEvent => ({
  id: `${PRODUCER}:${seq}`, topic: 'alert',
  json: JSON.stringify({ severity: 'INFO', title: `a${seq}`, message: `m${seq}`, key: `k${seq}`, ts: seq } satisfies AlertPayload),
});

function titles(bus: Bus): string[] {
  const seen: string[] = [];
  bus.subscribe('alert', (a) => void seen.push(a.title));
  return seen;
}

test('a damaged marks file: set aside, ERROR, marks rebuilt from the stream — a re-sent batch is dropped, the next event taken', async () => {
  const engine = await RedisBus.connect({ url: URL, prefix, processId: 'engine-proc', blockMs: 200 });
  closers.push(() => engine.close());
  // What the engine relayed before the control plane stopped: seqs 1..3, taken then.
  await engine.appendEvents([event(1), event(2), event(3)]);

  // The control plane's marks file was damaged while it was down.
  const path = join(dir, 'bus_marks.json');
  writeFileSync(path, '{"marks": {"engine_sim~e1": 3');
  const lines: { level: string; msg: string }[] = [];
  const log = pino({ level: 'info', formatters: { level: (label) => ({ level: label.toUpperCase() }) } }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: string; msg: string }) });
  const marks = new PersistedMarks(path, log);
  const redis = loadRedisConfig({ REDIS_URL: URL, REDIS_BUS_PREFIX: prefix })!;
  const ops = await openBus(redis, 'ops', log, null, marks);
  closers.push(async () => {
    await ops.close();
    marks.stop();
  });
  const taken = titles(ops);
  // Counterpart on the same stream: no marks to rebuild, as the control plane was before.
  const bare = await RedisBus.connect({ url: URL, prefix, processId: 'bare-consumer', blockMs: 200, marks: new ProducerMarks(), logger: silentLogger() });
  closers.push(() => bare.close());
  const bareTaken = titles(bare);

  assert.equal(readFileSync(`${path}.damaged`, 'utf8'), '{"marks": {"engine_sim~e1": 3', 'the damaged file is kept as evidence');
  assert.ok(lines.some((l) => l.level === 'ERROR' && /bus_marks\.json is damaged \(not JSON.*moved to .*bus_marks\.json\.damaged.*rebuilt from the bus stream/.test(l.msg)), JSON.stringify(lines));
  assert.ok(lines.some((l) => /event-id marks rebuilt from .*bus:events: 1 producer\(s\) from 3 outbox event\(s\)/.test(l.msg)), JSON.stringify(lines));

  // The engine's answer for 2..3 was lost: it re-sends them, then relays 4.
  await engine.appendEvents([event(2), event(3)]);
  await engine.appendEvents([event(4)]);
  await until('both consumers to read the new event', () => taken.includes('a4') && bareTaken.includes('a4'), 5_000);

  assert.deepEqual(taken, ['a4'], 'the re-sent copies are dropped, the new event is taken');
  assert.equal((ops as RedisBus).stats().duplicates, 2);
  assert.deepEqual(bareTaken, ['a2', 'a3', 'a4'], 'without the rebuild the copies would be taken a second time');

  // The rebuilt marks are saved in place of the damaged file.
  await ops.close();
  marks.stop();
  assert.deepEqual((JSON.parse(readFileSync(path, 'utf8')) as { marks: unknown }).marks, { [PRODUCER]: 4 });
  assert.equal(existsSync(`${path}.damaged.2`), false);
});
