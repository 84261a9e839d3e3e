// The deployment files agree with the code and with each other: the Dockerfile, the stack's
// docker-compose.yml and ops/observability's compose file and Prometheus targets. Every env key
// a service sets is one the code reads (src/config/config.ts) or documents (the ccxt, Redis and HTTP
// engine modules). `docker-compose config -q` validates both files when Debian's
// docker-compose v1 is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { CCXT_ENV_KEYS, credentialKeys } from '../../../src/venues/ccxt/ccxtConfig.js';
import { REDIS_ENV_KEYS } from '../../../src/bus/redisConfig.js';
import { ENGINE_ENDPOINTS_ENV, parseEngineEndpoints } from '../../../src/config/config.js';
import { HMM_NODE_FLAGS } from '../../../src/app/nodeFlags.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  networks?: string[] | Record<string, unknown>;
  depends_on?: string[];
  secrets?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { name?: string; external?: boolean }>;
  secrets?: Record<string, { file: string }>;
}

const stack = YAML.parse(read('docker-compose.yml'), { merge: true }) as Compose;
const obs = YAML.parse(read('ops/observability/docker-compose.observability.yml'), { merge: true }) as Compose;
const ourServices = Object.entries(stack.services).filter(([, s]) => s.build !== undefined);

/** ${VAR:-default} / ${VAR:?message} → the default (or '' ) as compose would resolve with VAR unset. */
const resolveDefault = (v: string) => v.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1').replace(/\$\{[A-Z0-9_]+(:\?[^}]*)?\}/g, '');

test('the Dockerfile: slim Node 20, native build deps, npm ci, non-root, 0.0.0.0, health check, the hmm entry point', () => {
  const df = read('Dockerfile');
  assert.match(df, /^FROM node:20-bookworm-slim\b/m);
  assert.match(df, /apt-get install[^\n]*python3 make g\+\+/);
  assert.match(df, /npm ci --omit=dev/);
  assert.match(df, /npm rebuild better-sqlite3/);
  const users = [...df.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(users.length > 0 && users.at(-1) !== 'root', 'runs as a non-root user');
  assert.match(df, /OPS_HOST=0\.0\.0\.0/);
  assert.match(df, /^HEALTHCHECK /m);
  assert.match(df, /ENTRYPOINT \["node", (?:"--[^"]+", )*"bin\/hmm\.mjs"\]/);
  for (const m of df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const src of m[1]!.split(/\s+/)) assert.ok(existsSync(join(root, src)), `COPY source ${src} exists`);
  }
  const ignore = read('.dockerignore').split('\n').map((l) => l.trim());
  for (const must of ['node_modules', '.git', 'secrets', '.env', '.ops_token', '*.sqlite']) assert.ok(ignore.includes(must), `.dockerignore keeps out ${must}`);
});

test('every launch point starts node with the V8 flags of src/app/nodeFlags.ts, and the shebang runs', () => {
  assert.ok(HMM_NODE_FLAGS.length > 0);
  const flags = (argv: readonly string[]) => argv.filter((a) => a.startsWith('--') && argv.indexOf(a) < argv.indexOf('bin/hmm.mjs'));
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'));
  assert.ok(entry, 'the Dockerfile has an exec-form ENTRYPOINT');
  assert.deepEqual(flags(JSON.parse(entry[1]!) as string[]), HMM_NODE_FLAGS, 'Dockerfile ENTRYPOINT (every compose service runs it)');
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  for (const name of ['start', 'hmm']) assert.deepEqual(flags(scripts[name]!.split(/\s+/)), HMM_NODE_FLAGS, `npm run ${name}`);
  const shebang = read('bin/hmm.mjs').split('\n')[0]!;
  assert.equal(shebang, `#!/usr/bin/env -S node ${HMM_NODE_FLAGS.join(' ')}`);
  // `env -S` splits the shebang's arguments: the bin runs as a command of its own.
  const run = spawnSync(join(root, 'bin/hmm.mjs'), ['--help'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /Usage: hmm/);
});

test('the stack compose file: the four services, ports, volumes, network and commands', () => {
  for (const name of ['hmm_ops', 'engine_sim', 'engine_binance', 'redis']) assert.ok(stack.services[name], `service ${name}`);
  assert.ok(ourServices.length === 3 && ourServices.every(([, s]) => s.build === '.'), 'our services build from the Dockerfile here');
  assert.ok(existsSync(join(root, 'Dockerfile')));

  const ops = stack.services['hmm_ops']!;
  assert.ok(ops.ports?.some((p) => /:8002:8002$/.test(resolveDefault(p))), 'the Ops API is published on 8002');
  assert.equal(ops.environment?.['OPS_PORT'], '8002');
  assert.equal(ops.environment?.['OPS_HOST'], '0.0.0.0');
  for (const e of ['engine_sim', 'engine_binance']) {
    assert.equal(stack.services[e]!.environment?.['ENGINE_PORT'], '8101');
    assert.equal(stack.services[e]!.environment?.['ENGINE_HOST'], '0.0.0.0');
    assert.deepEqual(stack.services[e]!.command, ['engine', '--venue', e.replace('engine_', '')]);
    assert.ok(stack.services[e]!.depends_on?.includes('redis'));
  }
  assert.deepEqual(ops.command, ['ops']);

  // The engines hmm_ops reaches are exactly the engine services, on their engine port.
  const engines = parseEngineEndpoints(ops.environment?.[ENGINE_ENDPOINTS_ENV] ?? '');
  assert.deepEqual(engines.map((e) => e.name).sort(), ['engine_binance', 'engine_sim']);
  for (const e of engines) assert.equal(e.url, `http://${e.name}:${stack.services[e.name]!.environment!['ENGINE_PORT']}`);

  for (const [name, s] of Object.entries(stack.services)) {
    for (const v of s.volumes ?? []) {
      const src = v.split(':')[0]!;
      if (!src.startsWith('.') && !src.startsWith('/')) assert.ok(stack.volumes && src in stack.volumes, `${name}: volume ${src} is declared`);
    }
    for (const sec of s.secrets ?? []) assert.ok(stack.secrets?.[sec], `${name}: secret ${sec} is declared`);
    const nets = Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {});
    assert.deepEqual(nets, ['hmm'], `${name} joins the stack network`);
  }
  // Binance keys come from secret files, never inline.
  const bin = stack.services['engine_binance']!.environment!;
  assert.equal(bin['BINANCE_API_KEY'], undefined);
  assert.equal(bin['BINANCE_API_SECRET'], undefined);
  assert.match(bin['BINANCE_API_KEY_FILE']!, /^\/run\/secrets\//);

  // The commands the compose file runs are the CLI's: `hmm engine --venue <v>` for each venue a
  // service names, and `hmm ops` (which needs HMM_ENGINES, set above).
  const help = (args: string[]) => spawnSync(process.execPath, [join(root, 'bin/hmm.mjs'), ...args, '--help'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  const engineHelp = help(['engine']);
  assert.equal(engineHelp.status, 0, engineHelp.stderr);
  assert.match(engineHelp.stdout, /--venue <venue>/);
  for (const e of ['engine_sim', 'engine_binance']) {
    const venue = stack.services[e]!.command![2]!;
    assert.match(engineHelp.stdout, new RegExp(`\\b${venue}\\b`), `hmm engine documents --venue ${venue}`);
  }
  const opsHelp = help(['ops']);
  assert.equal(opsHelp.status, 0, opsHelp.stderr);
  assert.match(opsHelp.stdout, /HMM_ENGINES/);
});

test('the observability stack joins the same network and scrapes services that exist on the right ports', () => {
  const ours = stack.networks?.['hmm'];
  const theirs = obs.networks?.['hmm'];
  assert.ok(ours?.name && theirs?.name);
  assert.equal(resolveDefault(ours.name!), 'hmm_net');
  assert.equal(resolveDefault(theirs.name!), resolveDefault(ours.name!), 'both files name the same network');
  assert.equal(theirs.external, true, 'observability joins the network the stack creates');
  assert.notEqual(ours.external, true);

  const prom = YAML.parse(read('ops/observability/prometheus.yml')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
  const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
  assert.ok(targets.length >= 3);
  for (const target of targets) {
    const [host, port] = target.split(':');
    const svc = stack.services[host!];
    assert.ok(svc, `Prometheus target ${target} is a service of docker-compose.yml`);
    const listens = svc.environment?.['ENGINE_PORT'] ?? svc.environment?.['OPS_PORT'];
    assert.equal(listens, port, `${host} listens on ${port}`);
  }
});

test('every env key a service sets is read by src/config/config.ts or documented by the module that reads it', () => {
  const configKeys = new Set([...read('src/config/config.ts').matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)].map((m) => m[1]!));
  const documented = new Set<string>([
    ...CCXT_ENV_KEYS, ...credentialKeys('binance'), ...REDIS_ENV_KEYS, ENGINE_ENDPOINTS_ENV,
    // Set by the Dockerfile for its own HEALTHCHECK (documented there).
    ...(/HEALTHCHECK_URL/.test(read('Dockerfile')) ? ['HEALTHCHECK_URL'] : []),
  ]);
  for (const [name, s] of ourServices) {
    for (const key of Object.keys(s.environment ?? {})) {
      assert.ok(configKeys.has(key) || documented.has(key), `${name}: ${key} is neither in src/config/config.ts nor documented`);
    }
  }
});

test('docker-compose config -q accepts both files (Debian docker-compose v1)', (t) => {
  const probe = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    t.skip('docker-compose is not installed');
    return;
  }
  const env = { ...process.env, OPS_API_TOKEN: 'compose-check-token-0123456789' };
  for (const [dir, file] of [[root, 'docker-compose.yml'], [join(root, 'ops/observability'), 'docker-compose.observability.yml']] as const) {
    const r = spawnSync('docker-compose', ['-f', file, 'config', '-q'], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(r.status, 0, `${file}: ${r.stderr}`);
  }
  // Without the operator token the stack refuses to start, naming it.
  const noToken = { ...process.env };
  delete noToken.OPS_API_TOKEN;
  const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: root, env: noToken, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /OPS_API_TOKEN/);
});
