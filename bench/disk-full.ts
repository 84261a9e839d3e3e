// Disk-full soak: many cycles of `hmm up` on a small tmpfs of its own (user + mount namespace),
// trading, disk filled with dd, then freed (test/integration/diskFullHarness.ts). Prints per
// cycle and in total: orders acknowledged and refused (STORAGE), seconds from the fill to the
// first refusal and from the free to the first acknowledgement, acknowledged orders missing from
// the ledger, and any other answer. Exits non-zero if an invariant broke.
//   npx tsx bench/disk-full.ts [cycles=10] [min_free_mb=0]
import { canMountTmpfs, diskFullCycle, startOnFullDisk } from '../test/integration/diskFullHarness.js';

const cycles = Number(process.argv[2] ?? 10);
const minFreeMb = process.argv[3] ?? '0';
if (!canMountTmpfs()) {
  console.error('disk-full: this machine does not allow `unshare -rm` + mount -t tmpfs; nothing measured');
  process.exit(2);
}
const problems: string[] = [];
const refuse: number[] = [];
const resume: number[] = [];
let acked = 0;
let refused = 0;
for (let i = 1; i <= cycles; i++) {
  const r = await diskFullCycle({ seed: i, minFreeMb });
  acked += r.acked.length;
  refused += r.refusedStorage;
  refuse.push(r.secondsToRefuse);
  resume.push(r.secondsToResume);
  const bad = [
    r.exitedEarly ? 'process exited' : '', r.otherAnswers.length ? `${r.otherAnswers.length} other answers (${r.otherAnswers[0]})` : '',
    r.missingFromLedger.length ? `${r.missingFromLedger.length} acked orders missing from the ledger` : '', r.refusedStorage === 0 ? 'no STORAGE refusal' : '',
    r.escapedFaults ? `${r.escapedFaults} escaped faults` : '', r.killStatus !== 200 ? `kill answered ${r.killStatus}` : '',
    (r.statusCondition as { kind?: string } | null)?.kind !== 'STORAGE' ? 'no STORAGE condition in /status' : '', r.faultMetric ? '' : 'metric not set',
  ].filter(Boolean);
  problems.push(...bad.map((b) => `cycle ${i}: ${b}`));
  console.log(`cycle ${i}: acked ${r.acked.length}, refused STORAGE ${r.refusedStorage}, fill→refusal ${r.secondsToRefuse.toFixed(2)} s, free→ack ${r.secondsToResume.toFixed(2)} s${bad.length ? `  PROBLEMS: ${bad.join('; ')}` : ''}`);
}
const s = await startOnFullDisk();
const oneLine = s.output.trim().split('\n').length === 1;
if (s.code === 0 || !oneLine) problems.push(`start on a full disk: exit ${s.code}, ${s.output.trim().split('\n').length} lines`);
const max = (a: number[]) => Math.max(...a).toFixed(2);
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(2);
console.log(`\n${cycles} disk-full cycles (HMM_STORAGE_MIN_FREE_MB=${minFreeMb}): ${acked} orders acknowledged, all in the ledger: ${problems.every((p) => !p.includes('missing')) ? 'yes' : 'NO'}; ${refused} refused with STORAGE; fill→refusal median ${med(refuse)} s (max ${max(refuse)}); free→first ack median ${med(resume)} s (max ${max(resume)}); start on a full disk: exit ${s.code}, one line: ${oneLine}`);
if (problems.length) {
  console.log(`PROBLEMS:\n${problems.join('\n')}`);
  process.exit(1);
}
