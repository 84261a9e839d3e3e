// What one process-level integration test file leaves behind — temporary roots and child
// processes — and the clean-up each such file had written out in its own `after`: every child
// SIGKILLed by its pid and awaited, then every root removed. With HMM_TEST_DUMP set, the
// children's last lines are shown first, so a failing run says what the processes said.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Child, REPO } from './hmmProcess.js';

export class Scratch {
  /** Children to kill at clean-up; push each one spawned. */
  readonly children: Child[] = [];
  private readonly dirs: string[] = [];

  /** `name` goes into every root's directory name (`hmm-<name>-<label>-XXXXXX`). */
  constructor(private readonly name: string) {}

  /** A fresh temporary directory, removed at clean-up. */
  root(label: string): string {
    const d = mkdtempSync(join(tmpdir(), `hmm-${this.name}-${label}-`));
    this.dirs.push(d);
    return d;
  }

  /** A fresh root for `hmm ops` whose capital policy is the shipped one with refresh_sec 1: an
   *  allocation write every second, so a fail-over test sees writes from both leaders. */
  allocatingRoot(label: string): string {
    const d = this.root(label);
    mkdirSync(join(d, 'ops'), { recursive: true });
    writeFileSync(join(d, 'ops/capital_policy.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(REPO, 'ops/capital_policy.json'), 'utf8')), refresh_sec: 1 }));
    return d;
  }

  /** Kills and awaits every child, then removes every root. `dump` picks the lines shown per
   *  child under HMM_TEST_DUMP (the last `tail` of them). */
  async cleanup(dump?: (line: string, child: Child) => boolean, tail = 20): Promise<void> {
    if (process.env.HMM_TEST_DUMP && dump) {
      for (const c of this.children) process.stderr.write(`--- ${c.label}\n${c.output().split('\n').filter((l) => dump(l, c)).slice(-tail).join('\n')}\n`);
    }
    for (const c of this.children) c.signal('SIGKILL');
    await Promise.all(this.children.map((c) => c.exited));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}
