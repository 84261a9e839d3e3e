// `hmm bus publish` straight onto the shared Redis bus (REDIS_URL or REDIS_SENTINELS set): the event reaches every
// engine and ops replica without going through one replica's API. The payload is checked as
// POST /bus/publish checks it; the command returns once Redis has the entry (or fails).
import { loadRedisConfig } from '../bus/redisConfig.js';
import { RedisBus } from '../bus/redisBus.js';
import { describeRedis } from '../bus/redisConnection.js';
import { isTopic, TOPICS, type BusTopics, type Topic } from '../bus/topics.js';
import { checkBusPayload } from '../bus/inputBounds.js';
import { processIdFor } from '../app/processBus.js';
import { CliError } from './opsClient.js';

type Env = Readonly<Record<string, string | undefined>>;

export async function publishToRedis(topic: string, payload: Record<string, unknown>, env: Env): Promise<{ ok: true; topic: string; via: 'redis'; stream: string }> {
  if (!isTopic(topic)) throw new CliError(`unknown topic "${topic}" (topics: ${TOPICS.join(', ')})`, 2);
  if (topic === 'metrics.update') {
    const bad = Object.entries(payload).filter(([, v]) => typeof v !== 'number' || !Number.isFinite(v)).map(([k]) => k);
    if (bad.length > 0) throw new CliError(`metrics.update values must be finite numbers: ${bad.map((k) => `payload.${k}`).join(', ')}`, 2);
  }
  const outOfBounds = checkBusPayload(topic, payload);
  if (outOfBounds !== null) throw new CliError(`${topic} payload refused: ${outOfBounds}`, 2);
  let cfg;
  try {
    cfg = loadRedisConfig(env);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  if (cfg === null) throw new CliError('neither REDIS_URL nor REDIS_SENTINELS is set: publish through the Ops API instead (--via ops)', 2);
  let bus: RedisBus;
  try {
    bus = await RedisBus.connect({ url: cfg.endpoint, prefix: cfg.prefix, maxLen: cfg.busMaxLen, processId: processIdFor('cli'), connectTimeoutMs: 5_000 });
  } catch (err) {
    throw new CliError((err as Error).message, 3);
  }
  bus.publish(topic as Topic, payload as unknown as BusTopics[Topic]);
  // close() waits for the write in flight; an error counted meanwhile means Redis does not have it.
  await bus.close();
  const st = bus.stats();
  if (st.publishErrors > 0 || st.dropped > 0 || st.pendingPublishes > 0) throw new CliError(`the event did not reach Redis at ${describeRedis(cfg.endpoint)}`, 3);
  return { ok: true, topic, via: 'redis', stream: st.stream };
}
