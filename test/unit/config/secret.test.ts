// The one credential reader (venue API keys, Redis passwords): the value or a file, never both;
// trimmed; a missing or empty file and a blank value stop start-up naming the key; and neither a
// refusal nor a Secret ever prints the value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import pino from 'pino';
import { ConfigError } from '../../../src/config/config.js';
import { Secret, readSecret } from '../../../src/config/secret.js';

const VALUE = 'hunter2-very-secret';

function refused(env: Record<string, string>, key: string, problem: RegExp): void {
  assert.throws(() => readSecret(env, 'K'), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.key, key);
    assert.match(err.message, problem);
    assert.ok(!err.message.includes(VALUE), 'a refusal never carries the value');
    return true;
  });
}

test('the value or the file, trimmed; neither is no credential', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-secret-'));
  try {
    assert.equal(readSecret({}, 'K'), null);
    assert.equal(readSecret({ K: '', K_FILE: '' }, 'K'), null, 'an empty variable is an unset one');
    assert.equal(readSecret({ K: ` ${VALUE} ` }, 'K')?.reveal(), VALUE);
    writeFileSync(join(dir, 'crlf'), `${VALUE}\r\n`);
    assert.equal(readSecret({ K_FILE: join(dir, 'crlf') }, 'K')?.reveal(), VALUE);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('refusals name the key (and the file), never the value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-secret-'));
  try {
    writeFileSync(join(dir, 'pw'), VALUE);
    writeFileSync(join(dir, 'blank'), ' \n');
    refused({ K: VALUE, K_FILE: join(dir, 'pw') }, 'K', /not both/);
    refused({ K_FILE: join(dir, 'missing') }, 'K_FILE', /cannot read .*missing: ENOENT/);
    refused({ K_FILE: dir }, 'K_FILE', /cannot read .*EISDIR/);
    refused({ K_FILE: join(dir, 'blank') }, 'K_FILE', /blank is empty/);
    refused({ K: ' \t' }, 'K', /only white space/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Secret never prints: JSON, inspect, template strings, pino', () => {
  const s = new Secret(VALUE);
  const lines: string[] = [];
  const log = pino({}, { write: (l: string) => void lines.push(l) });
  log.info({ creds: { apiKey: s }, deep: { a: { b: s } }, s }, `using ${s}`);
  const out = [JSON.stringify({ s }), inspect({ s }), `${s}`, String(s), ...lines].join('\n');
  assert.ok(!out.includes('hunter2'), out);
  assert.ok(out.includes('[REDACTED]'));
  assert.equal(s.reveal(), VALUE);
});
