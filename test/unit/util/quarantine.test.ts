// util/quarantine.ts: damaged lines and damaged files are set aside, never deleted. The line
// move keeps the damaged bytes exactly (a report shortens a long line; the evidence does not),
// keeps every sound line in order, and touches nothing when nothing is damaged; a whole file
// goes to `.damaged`, and a second one never overwrites the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { moveLinesAside, quarantineFile, scanLines } from '../../../src/util/quarantine.js';

function withDir(fn: (dir: string) => void): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmm-quarantine-'));
    try {
      fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const soundJson = (text: string): string | null => {
  try {
    JSON.parse(text);
    return null;
  } catch {
    return 'not JSON';
  }
};

test('damaged lines move to <file>.damaged byte for byte (a long one too), the sound lines stay in order, a torn tail is left to its owner', withDir((dir) => {
  const file = join(dir, 'log.jsonl');
  const long = `{"broken": "${'x'.repeat(10_000)}`;
  writeFileSync(file, `{"n":1}\n${long}\n{"n":2}\nnot json\n{"n":3}\n{"torn":`);
  const scan = scanLines(file, soundJson);
  assert.deepEqual(scan.damaged.map((d) => [d.line, d.reason]), [[2, 'not JSON'], [4, 'not JSON']]);
  assert.ok(scan.damaged[0]!.text.length < 5_000 && scan.damaged[0]!.text.endsWith(`(${long.length} bytes)`), 'the report shortens a long line');
  const keptIn = moveLinesAside(file, scan);
  assert.equal(keptIn, `${file}.damaged`);
  assert.equal(readFileSync(keptIn, 'utf8'), `${long}\nnot json\n`, 'the evidence is the damaged lines, whole');
  assert.equal(readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n{"n":3}\n{"torn":', 'sound lines in order; the torn tail untouched');
  assert.equal(existsSync(`${file}.quarantine.tmp`), false);
}));

test('a sound file: nothing found, nothing moved (counterpart)', withDir((dir) => {
  const file = join(dir, 'log.jsonl');
  writeFileSync(file, '{"n":1}\n{"n":2}\n');
  const before = statSync(file).ino;
  const scan = scanLines(file, soundJson);
  assert.deepEqual(scan.damaged, []);
  assert.equal(existsSync(`${file}.damaged`), false);
  assert.equal(statSync(file).ino, before);
}));

test('a disk that refuses the move throws, leaves the file whole and no temp file behind', withDir((dir) => {
  const file = join(dir, 'log.jsonl');
  writeFileSync(file, '{"n":1}\nbad\n');
  // The evidence path is a directory: appending to it fails as a read-only disk would.
  const scan = scanLines(file, soundJson);
  mkdirSync(`${file}.damaged`);
  assert.throws(() => moveLinesAside(file, scan), { code: 'EISDIR' });
  assert.equal(readFileSync(file, 'utf8'), '{"n":1}\nbad\n');
  assert.equal(existsSync(`${file}.quarantine.tmp`), false);
}));

test('a disk that refuses the rewrite after the evidence is written: the file stays whole, the evidence holds the lines, no temp file behind', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-quarantine-'));
  const file = join(dir, 'log.jsonl');
  try {
    writeFileSync(file, '{"n":1}\nbad\n{"n":2}\n');
    const scan = scanLines(file, soundJson);
    // The rename that would put the rewritten file in place fails (EIO), after the temp file
    // was written and synced: the path the catch's clean-up exists for.
    const eio = () => { throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' }); };
    t.mock.method(fs, 'renameSync', eio);
    syncBuiltinESMExports();
    try {
      assert.throws(() => moveLinesAside(file, scan), { code: 'EIO' });
    } finally {
      t.mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.equal(readFileSync(file, 'utf8'), '{"n":1}\nbad\n{"n":2}\n', 'the file is whole');
    assert.equal(readFileSync(`${file}.damaged`, 'utf8'), 'bad\n', 'a copy too many, never one too few');
    assert.equal(existsSync(`${file}.quarantine.tmp`), false, 'the temp file is removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a whole damaged file goes to .damaged; a second one to .damaged.2, the first kept', withDir((dir) => {
  const file = join(dir, 'state.json');
  writeFileSync(file, '{first');
  assert.equal(quarantineFile(file), `${file}.damaged`);
  writeFileSync(file, '{second');
  assert.equal(quarantineFile(file), `${file}.damaged.2`);
  assert.equal(existsSync(file), false);
  assert.equal(readFileSync(`${file}.damaged`, 'utf8'), '{first');
  assert.equal(readFileSync(`${file}.damaged.2`, 'utf8'), '{second');
  assert.throws(() => quarantineFile(join(dir, 'missing.json')), { code: 'ENOENT' });
}));
