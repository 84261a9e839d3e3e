// An exported state file: written at once without pacing; the same bytes not rewritten unless
// the file was edited or deleted; with pacing only the latest of close refreshes is rendered
// and written, at the end of the interval or at close().
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExportFile } from '../../../src/util/exportFile.js';
import { Scratch } from '../../support/scratch.js';

const scratch = new Scratch('export');
after(() => scratch.cleanup());
const tmp = () => join(scratch.root('file'), 'state.json');

test('unpaced: every refresh is written at once; the same bytes are not rewritten, unless the file was edited or deleted', async () => {
  const path = tmp();
  const f = new ExportFile(path);
  await f.refresh(() => 'a\n');
  assert.equal(readFileSync(path, 'utf8'), 'a\n');
  const ino = statSync(path).ino;
  await f.refresh(() => 'a\n');
  assert.equal(statSync(path).ino, ino, 'same bytes: not replaced');
  await f.refresh(() => 'b\n');
  assert.equal(readFileSync(path, 'utf8'), 'b\n');
  assert.notEqual(statSync(path).ino, ino, 'new bytes: replaced');
  // Counterparts: an operator's edit, or a delete, is overwritten even by the same bytes.
  writeFileSync(path, 'edited\n');
  await f.refresh(() => 'b\n');
  assert.equal(readFileSync(path, 'utf8'), 'b\n');
  unlinkSync(path);
  await f.refresh(() => 'b\n');
  assert.equal(readFileSync(path, 'utf8'), 'b\n');
});

test('paced: refreshes inside the interval are held, only the latest is rendered, and it is written when the interval ends', async () => {
  const path = tmp();
  const f = new ExportFile(path, 150);
  const rendered: string[] = [];
  const render = (t: string) => () => { rendered.push(t); return `${t}\n`; };
  await f.refresh(render('1'));
  assert.equal(readFileSync(path, 'utf8'), '1\n', 'the first refresh is written at once');
  await f.refresh(render('2'));
  await f.refresh(render('3'));
  assert.equal(readFileSync(path, 'utf8'), '1\n', 'held inside the interval');
  for (let i = 0; i < 100 && readFileSync(path, 'utf8') !== '3\n'; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(readFileSync(path, 'utf8'), '3\n', 'the latest, once the interval ended');
  assert.deepEqual(rendered, ['1', '3'], 'a refresh replaced before it was due is never rendered');
});

test('paced: close() writes what is held at once, and a failing held render is reported, not thrown', async () => {
  const path = tmp();
  const errors: string[] = [];
  const f = new ExportFile(path, 60_000, (e) => errors.push(e.message));
  await f.refresh(() => 'first\n');
  await f.refresh(() => 'last\n');
  assert.equal(readFileSync(path, 'utf8'), 'first\n');
  await f.close();
  assert.equal(readFileSync(path, 'utf8'), 'last\n');

  const other = tmp();
  const g = new ExportFile(other, 300, (e) => errors.push(e.message));
  await g.refresh(() => 'ok\n');
  await g.refresh(() => { throw new Error('render failed'); });
  for (let i = 0; i < 300 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(errors, ['render failed']);
  assert.equal(readFileSync(other, 'utf8'), 'ok\n', 'the last good content stays');
  assert.ok(existsSync(other));
});
