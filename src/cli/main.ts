// The `hmm` command: runs the stack (`hmm up`, what `npm start` runs), or its parts as separate
// processes (`hmm engine --venue sim|binance`, `hmm ops`), and carries out the runbook's
// routine tasks against a running stack through the Ops API. Errors print one clear line and
// exit non-zero.
import { Command, InvalidArgumentError } from 'commander';
import { opsRequest, resolveToken, CliError } from './opsClient.js';
import { exportPnl } from './exportPnl.js';
import { locateOps } from './locate.js';
import { EXTERNAL_TOPICS } from '../ops/routes/control.js';
import { isTopic, TOPICS } from '../bus/topics.js';
import { isStorageFault } from '../util/storageHealth.js';
import { redisConfigured } from '../bus/redisConfig.js';

const program = new Command();
program
  .name('hmm')
  .description('hmm-stack: automated trading stack with an operations control plane')
  .option('--url <url>', 'Ops API address (default: OPS_URL, else the root\'s .hmm-stack.lock, else OPS_PORT, else http://127.0.0.1:8002)')
  .option('--root <dir>', 'stack root (where ops/ and engine/ live)', process.env.HMM_ROOT ?? process.cwd())
  .showHelpAfterError();

const globals = () => program.opts<{ url?: string; root: string }>();
/** The running stack's Ops API: --url, OPS_URL, the root's lock file, OPS_PORT, the default. */
const ops = () => locateOps(globals().root, globals().url, process.env);

/** Exit status of a start refused because the disk under HMM_ROOT takes no writes (EX_IOERR). */
const EXIT_STORAGE = 74;

/**
 * Before a long-running command starts: a root that takes no write (full, read-only, failing)
 * is said in one line and the command exits non-zero, rather than failing half-way through
 * start-up. Once running, a storage fault that escapes some write path is not the end of the
 * process: it is reported (the stack refuses new orders until writes succeed) and named in an
 * ERROR, so the missed path can be fixed; any other uncaught error still ends the process.
 */
async function guardStorage(root: string): Promise<void> {
  const { storageConfig } = await import('../config/config.js');
  const { reportStorageFault, storagePreflight } = await import('../util/storageHealth.js');
  const refused = storagePreflight(root, storageConfig(process.env).minFreeBytes);
  if (refused !== null) throw new CliError(refused, EXIT_STORAGE);
  const escaped = (err: unknown): void => {
    const e = err as { path?: unknown; code?: unknown; message?: unknown; stack?: unknown } | null;
    if (reportStorageFault(typeof e?.path === 'string' ? e.path : root, err)) {
      process.stderr.write(`${JSON.stringify({ level: 'ERROR', time: new Date().toISOString(), msg: `[OPS] a storage fault (${String(e?.code)}) escaped a write path: ${String(e?.message)}; new orders are refused until writes succeed` })}\n`);
      return;
    }
    process.stderr.write(`${String(e?.stack ?? err)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', escaped);
  process.on('unhandledRejection', escaped);
}
const print = (x: unknown): void => {
  process.stdout.write(JSON.stringify(x, null, 2) + "\n");
};

program.command('up').description('run the whole stack in this process (paper mode on the sim venue)').action(async () => {
  await guardStorage(globals().root);
  const { startStack } = await import('../app/stack.js');
  const env = { ...process.env, HMM_ROOT: globals().root };
  const stack = await startStack({ env });
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    stack.log.info(`[OPS] ${sig} received: stopping`);
    stack.stop().then(() => process.exit(0), (err: Error) => {
      process.stderr.write(`error while stopping: ${err.message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
});

/** Stops a long-running command cleanly on SIGINT/SIGTERM (second signal: no second stop). */
function stopOnSignals(stop: () => Promise<void>, log: { info: (msg: string) => void }): void {
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`[OPS] ${sig} received: stopping`);
    stop().then(() => process.exit(0), (err: Error) => {
      process.stderr.write(`error while stopping: ${err.message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

program.command('stop').description('stop the stack running on --root (SIGTERM to the pid in its .hmm-stack.lock, then wait for its clean stop)')
  .option('--timeout <sec>', 'how long to wait for the clean stop', '30')
  .action(async (o: { timeout: string }) => {
    const { stopStack } = await import('./stop.js');
    process.stdout.write(`${await stopStack(globals().root, Number(o.timeout) * 1000)}\n`);
  });

const engineCommand = program.command('engine').description('run one engine in this process: its ledger, venue and engine API (ENGINE_PORT); with REDIS_URL its events go on the shared bus')
  // An option, not a required one: commander would demand it of `hmm engine ack` too.
  .option('--venue <venue>', '(required) sim (paper, synthetic or MARKET_DATA=binance bars) or binance (live through ccxt: BINANCE_API_KEY/_SECRET or their _FILE, CCXT_API_BASE, CCXT_SANDBOX)')
  .option('--name <name>', 'engine name (default engine_<venue>); HMM_ENGINES names it so')
  .action(async (o: { venue?: string; name?: string }) => {
    if (o.venue === undefined) throw new CliError('hmm engine: --venue sim|binance is required (or `hmm engine ack <name>`)');
    if (o.venue !== 'sim' && o.venue !== 'binance') throw new CliError(`--venue must be sim or binance, got "${o.venue}"`);
    await guardStorage(globals().root);
    const { startEngineProcess } = await import('../app/engineProcess.js');
    const env = { ...process.env, HMM_ROOT: globals().root, ENGINE_VENUE: o.venue, ...(o.name ? { ENGINE_NAME: o.name } : {}) };
    const engine = await startEngineProcess({ env });
    stopOnSignals(() => engine.stop(), engine.log);
  });

engineCommand.command('ack <name>').description('acknowledge the cause of a stop an engine put on itself (a ledger that could not commit): the one thing that lifts it — a resume does not (POST /engines/<name>/ack)')
  .option('--note <text>', 'what was found and done (recorded in the audit trail and the engine\'s ledger)')
  .action(async (name: string, o: { note?: string }) => {
    const token = resolveToken(globals().root);
    const r = await opsRequest(ops(), 'POST', `/engines/${encodeURIComponent(name)}/ack`, o.note ? { note: o.note } : {}, token, [409]) as { acknowledged?: boolean; message?: string };
    print(r);
    // Refused (nothing to acknowledge, or the ledger still cannot commit): say so in the exit code.
    if (r.acknowledged !== true) throw new CliError(`not acknowledged: ${r.message ?? 'see above'}`, 1);
  });

program.command('ops').description('run the control plane (Ops API on OPS_PORT, router, allocator, governance, canary, dashboard) against the engines in HMM_ENGINES; replicas share state and elect a leader through REDIS_URL')
  .action(async () => {
    await guardStorage(globals().root);
    const { startOpsProcess } = await import('../app/opsProcess.js');
    const ops = await startOpsProcess({ env: { ...process.env, HMM_ROOT: globals().root } });
    stopOnSignals(() => ops.stop(), ops.log);
  });

program.command('status').description('the stack on one screen: trading state per engine, equity, PnL today, positions, models, alerts')
  .option('--json', 'print the raw GET /status answer instead')
  .action(async (o: { json?: boolean }) => {
    if (o.json) {
      print(await opsRequest(ops(), 'GET', '/status'));
      return;
    }
    const { fetchStatusBoard, renderStatusBoard } = await import('./status.js');
    process.stdout.write(renderStatusBoard(await fetchStatusBoard(ops(), globals().root)));
  });

program.command('kill').description('pause trading on every engine (POST /kill {"enabled": false})')
  .option('--cancel-open', 'also cancel open orders')
  .option('--reason <text>', 'why (recorded)')
  .action(async (o: { cancelOpen?: boolean; reason?: string }) => {
    const token = resolveToken(globals().root);
    print(await opsRequest(ops(), 'POST', '/kill', { enabled: false, cancel_open: o.cancelOpen === true, ...(o.reason ? { reason: o.reason } : {}) }, token));
  });

program.command('resume').description('resume trading (POST /kill {"enabled": true})')
  .option('--reason <text>', 'why (recorded)')
  .action(async (o: { reason?: string }) => {
    const token = resolveToken(globals().root);
    print(await opsRequest(ops(), 'POST', '/kill', { enabled: true, ...(o.reason ? { reason: o.reason } : {}) }, token));
  });

const weights = program.command('weights').description('model weights');
weights.command('get').description('GET /strategy/weights').action(async () => print(await opsRequest(ops(), 'GET', '/strategy/weights')));
weights.command('set').description('set weights, e.g. `hmm weights set ma_crossover_v1=0.1`')
  .argument('<pairs...>', 'MODEL=WEIGHT pairs', (value: string, prev: Record<string, number> = {}) => {
    const m = /^([A-Za-z0-9._-]+)=(.+)$/.exec(value);
    if (!m) throw new InvalidArgumentError(`expected MODEL=WEIGHT, got "${value}"`);
    const w = Number(m[2]);
    if (!Number.isFinite(w)) throw new InvalidArgumentError(`weight for ${m[1]} is not a number: "${m[2]}"`);
    return { ...prev, [m[1]!]: w };
  })
  .action(async (pairs: Record<string, number>) => {
    const token = resolveToken(globals().root);
    print(await opsRequest(ops(), 'POST', '/strategy/weights', { weights: pairs }, token));
  });

program.command('export-pnl').description('write ops/exports/pnl_YYYY-MM-DD.csv from the ledger')
  .option('--date <YYYY-MM-DD>', 'UTC day to export (default: today)')
  .action(async (o: { date?: string }) => {
    const out = await exportPnl(globals().root, o.date);
    process.stdout.write(`wrote ${out.path} (${out.rows} rows)\n`);
  });

program.command('backup').description('write a .tar.gz of the stack\'s state (consistent SQLite copies, safe while running) with a checksummed manifest')
  .option('--out <file>', 'archive path (default <root>/backup_YYYYMMDD_HHMMSS.tar.gz)')
  .action(async (o: { out?: string }) => {
    const { backupCommand } = await import('./backup.js');
    process.stdout.write(`${await backupCommand(globals().root, o.out)}\n`);
  });

program.command('restore').description('restore a backup into --root (the stack must be stopped); the next start reports state.recovered')
  .argument('<file>', 'archive written by `hmm backup`')
  .option('--verify-only', 'check the archive (checksums, SQLite integrity) without restoring')
  .option('--with-trading-state', 'also restore the backup\'s trading decision (ops/trading_states.json); by default the current one is kept')
  .action(async (file: string, o: { verifyOnly?: boolean; withTradingState?: boolean }) => {
    const { restoreCommand } = await import('./backup.js');
    process.stdout.write(`${await restoreCommand(globals().root, file, [ops().url], o.verifyOnly === true, o.withTradingState === true)}\n`);
  });

program.command('train-hmm').description('fit a Gaussian HMM and save it as the next version in ops/models/ (the stack runs it as a shadow model)')
  .option('--csv <file>', 'bars CSV (ts,symbol,open,high,low,close,volume)')
  .option('--bars <n>', 'synthetic history of N bars instead of a CSV')
  .option('--seed <s>', 'seed of the synthetic history', '1')
  .option('--interval-ms <ms>', 'bar interval of the synthetic history (default: MARKET_INTERVAL_MS or 1000, what the stack trades)')
  .option('--symbol <symbol>', 'symbol to train on (default: BTCUSDT, or the first in the CSV)')
  .option('--k <n>', 'number of regimes (calm, up-trend, down-trend, volatile)', '4')
  .option('--covariance <type>', 'diag or full', 'diag')
  .option('--id <id>', 'model id in ops/models', 'hmm_regime')
  .action(async (o: Record<string, string | undefined>) => {
    const { trainHmmCommand } = await import('./trainHmm.js');
    process.stdout.write(`${await trainHmmCommand(globals().root, o)}\n`);
  });

program.command('backtest').description('run a model over bars through the live router, risk rails and sim venue; print the report, write report.json and equity.csv')
  .option('--model <kind>', 'ma, hmm or ensemble', 'ma')
  .option('--csv <file>', 'bars CSV (ts,symbol,open,high,low,close,volume)')
  .option('--bars <n>', 'synthetic history of N steps instead of a CSV')
  .option('--seed <s>', 'seed of the synthetic history', '1')
  .option('--interval-ms <ms>', 'bar interval of the synthetic history', '60000')
  .option('--symbol <symbols>', 'synthetic symbols, comma-separated', 'BTCUSDT')
  .option('--out <dir>', 'output folder (default <root>/backtests/<model>-<time>)')
  .option('--train-frac <f>', 'share of the bars an HMM is trained on before trading the rest', '0.3')
  .option('--hmm-model <id[@version]>', 'use a stored HMM from ops/models instead of training one')
  .option('--cash <usdt>', 'starting cash', '10000')
  .option('--fast <n>', 'MA fast window')
  .option('--slow <n>', 'MA slow window')
  .action(async (o: Record<string, string | undefined>) => {
    const { backtestCommand } = await import('./backtest.js');
    process.stdout.write(`${await backtestCommand(globals().root, o)}\n`);
  });

program.command('replay').description('run the whole stack (every model, router, allocator, canary, governance, sim venue, ledger) over bars on a simulated clock in a fresh folder; print the summary, write the live artefacts and replay/report.json')
  .requiredOption('--out <dir>', 'a fresh (absent or empty) folder the replay runs in')
  .option('--csv <file>', 'bars CSV (ts,symbol,open,high,low,close,volume)')
  .option('--bars <n>', 'synthetic market: N steps after the warm-up')
  .option('--seed <s>', 'seed of the synthetic market', '1')
  .option('--drift <d>', 'MARKET_DRIFT of the synthetic market (0 = no planted edge)', '1')
  .option('--policies <file>', 'replay under this ops/policies.yaml instead of the shipped one (a what-if)')
  .action(async (o: Record<string, string | undefined>) => {
    const { replayCommand } = await import('./replay.js');
    process.stdout.write(await replayCommand(o));
  });

const bus = program.command('bus').description('the event bus of the running stack');
bus.command('publish').description('publish an event, e.g. `hmm bus publish metrics.update \'{"pnl_unrealized": -150}\'` (straight onto the shared Redis bus when REDIS_URL or REDIS_SENTINELS is set, else through the Ops API)')
  .argument('<topic>', 'topic name')
  .argument('<json>', 'payload as a JSON object')
  .option('--via <path>', 'redis or ops (default: redis when REDIS_URL or REDIS_SENTINELS is set)')
  .action(async (topic: string, json: string, o: { via?: string }) => {
    let payload: unknown;
    try {
      payload = JSON.parse(json);
    } catch (err) {
      throw new CliError(`payload is not valid JSON: ${(err as Error).message}`);
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new CliError('payload must be a JSON object');
    const via = o.via ?? (redisConfigured() ? 'redis' : 'ops');
    if (via !== 'redis' && via !== 'ops') throw new CliError(`--via must be redis or ops, got "${via}"`, 2);
    // Refused before anything is sent, naming what would have been accepted on this path.
    if (via === 'ops' && !(EXTERNAL_TOPICS as readonly string[]).includes(topic)) {
      const what = isTopic(topic) ? `topic ${topic} is owned by the stack and cannot be published through the Ops API` : `unknown topic "${topic}"`;
      throw new CliError(`${what}; topics you can publish: ${EXTERNAL_TOPICS.join(', ')}${redisConfigured() ? '' : ` (with REDIS_URL or REDIS_SENTINELS set, any of: ${TOPICS.join(', ')})`}`, 2);
    }
    if (via === 'redis') {
      const { publishToRedis } = await import('./busPublish.js');
      print(await publishToRedis(topic, payload as Record<string, unknown>, process.env));
      return;
    }
    const token = resolveToken(globals().root);
    print(await opsRequest(ops(), 'POST', '/bus/publish', { topic, payload }, token));
  });

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`hmm: ${err.message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : isStorageFault(err) || isStorageFault(err.cause) ? EXIT_STORAGE : 1);
});
