// ops/bus_marks.json at start-up (app/processBus.ts PersistedMarks): no file is a first start;
// a sound file is restored (and nothing is set aside); a damaged one (not JSON, or not a marks
// document) is moved to .damaged with an ERROR naming it, and the bus is told to rebuild the
// marks from the stream; one that cannot be read stops start-up with a coded error. The
// rebuild itself runs against Redis in test/integration/busMarks.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { BusMarksUnreadableError, PersistedMarks } from '../../../src/app/processBus.js';

interface Line { level: string; msg: string }

function setup(): { dir: string; path: string; lines: Line[]; log: pino.Logger; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-marks-'));
  const lines: Line[] = [];
  const log = pino({ level: 'info', formatters: { level: (label) => ({ level: label.toUpperCase() }) } }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
  return { dir, path: join(dir, 'bus_marks.json'), lines, log, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('no marks file: a first start, nothing logged as an error, the marks rebuilt from the stream', () => {
  const s = setup();
  try {
    const m = new PersistedMarks(s.path, s.log);
    m.stop();
    assert.deepEqual(m.loaded, { kind: 'missing' });
    assert.equal(m.seedFromStream, true);
    assert.deepEqual(s.lines.filter((l) => l.level === 'ERROR'), []);
  } finally {
    s.done();
  }
});

test('a sound marks file is restored, nothing is set aside and no rebuild is asked (counterpart)', () => {
  const s = setup();
  try {
    writeFileSync(s.path, JSON.stringify({ marks: { 'engine_sim~a1': 42, 'engine_bin~b2': 7 }, saved_at: '2024-01-01T00:00:00.000Z' }));
    const m = new PersistedMarks(s.path, s.log);
    m.stop();
    assert.deepEqual(m.loaded, { kind: 'restored', producers: 2 });
    assert.equal(m.seedFromStream, false);
    assert.equal(m.marks.mark('engine_sim~a1'), 42);
    assert.equal(m.marks.admit('engine_sim~a1:42'), 'duplicate');
    assert.equal(existsSync(`${s.path}.damaged`), false);
    assert.deepEqual(s.lines.filter((l) => l.level === 'ERROR'), []);
  } finally {
    s.done();
  }
});

for (const [what, text, reason] of [
  ['not JSON (a torn write, a bad sector)', '{"marks": {"engine_sim~a1": 4', /not JSON/],
  ['JSON but not a marks document', '[1, 2, 3]', /not an object/],
  ['a mark that is not a whole number', '{"marks": {"engine_sim~a1": 42, "engine_bin~b2": "7"}}', /engine_bin~b2.*not a whole number/],
] as const) {
  test(`a damaged marks file (${what}) is moved to .damaged, named in an ERROR, and the marks are rebuilt from the stream`, () => {
    const s = setup();
    try {
      writeFileSync(s.path, text);
      const m = new PersistedMarks(s.path, s.log);
      assert.equal(m.loaded.kind, 'damaged');
      assert.match(m.loaded.kind === 'damaged' ? m.loaded.reason : '', reason);
      assert.equal(m.seedFromStream, true, 'the bus rebuilds the marks from the stream');
      assert.equal(m.marks.mark('engine_sim~a1'), 0, 'nothing half-read from a file not trusted');
      assert.equal(readFileSync(`${s.path}.damaged`, 'utf8'), text, 'kept as evidence, byte for byte');
      const errors = s.lines.filter((l) => l.level === 'ERROR');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.msg, /^\[BUS\] .*bus_marks\.json is damaged \(.*\); moved to .*bus_marks\.json\.damaged; the event-id marks are rebuilt from the bus stream/);
      // The next save writes a sound file in its place.
      m.marks.admit('engine_sim~a1:1');
      m.stop();
      assert.deepEqual((JSON.parse(readFileSync(s.path, 'utf8')) as { marks: unknown }).marks, { 'engine_sim~a1': 1 });
    } finally {
      s.done();
    }
  });
}

test('a marks file that cannot be read (EISDIR here; EACCES and EIO take the same path) stops start-up with a coded error naming it; nothing is moved', () => {
  const s = setup();
  try {
    mkdirSync(s.path);
    assert.throws(() => new PersistedMarks(s.path, s.log), (err: unknown) => {
      assert.ok(err instanceof BusMarksUnreadableError);
      assert.equal(err.code, 'HMM_BUS_MARKS_UNREADABLE');
      assert.equal(err.errorCode, 'EISDIR');
      assert.match(err.message, /bus_marks\.json cannot be read \(EISDIR.*\): the control plane does not start/);
      return true;
    });
    assert.equal(existsSync(`${s.path}.damaged`), false, 'an unreadable file is not damage: it stays');
  } finally {
    s.done();
  }
});
