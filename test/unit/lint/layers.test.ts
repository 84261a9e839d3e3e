// The import-boundary rule (eslint/layers.js) fails on a planted break and passes the real tree's
// direction: a file of a lower plane importing a higher one is reported with both names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const repo = join(import.meta.dirname, '..', '..', '..');
const eslint = new ESLint({ cwd: repo });

async function layerMessages(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(repo, file) });
  return result!.messages.filter((m) => m.ruleId === 'layers/import-direction').map((m) => m.message);
}

test('a planted break (engine importing ops) is reported, naming both planes', async () => {
  const msgs = await layerMessages('src/engine/planted.ts', "import { x } from '../ops/paths.js';\nexport const y = x;\n");
  assert.equal(msgs.length, 1);
  assert.match(msgs[0]!, /engine may not import ops/);
});

test('two planes of one rank may not import each other; core imports nothing of ours', async () => {
  assert.match((await layerMessages('src/bus/planted.ts', "export * from '../http/errors.js';\n"))[0]!, /share a rank/);
  assert.match((await layerMessages('src/core/planted.ts', "import '../util/atomicFile.js';\n"))[0]!, /core may not import util/);
  assert.match((await layerMessages('src/obs/planted.ts', "export const m = () => import('../venues/venue.js');\n"))[0]!, /obs may not import venues/);
});

test('downward imports, imports within a plane and packages pass; a folder outside the order is named', async () => {
  assert.deepEqual(await layerMessages('src/ops/planted.ts', "import { a } from '../engine/engineHandle.js';\nimport { b } from './paths.js';\nimport Fastify from 'fastify';\nexport const c = [a, b, Fastify];\n"), []);
  assert.match((await layerMessages('src/newplane/planted.ts', 'export const a = 1;\n'))[0]!, /in no layer/);
});
