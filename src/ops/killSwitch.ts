// The kill switch as the runbook knows it (`POST /kill {"enabled": false}`, TRADING_ENABLED in
// /status and /metrics): the global HALTED of the one trading state (governance/tradingStates.ts),
// not a second mechanism. It holds no state of its own: `enabled` is "the global state is not
// HALTED", a pause sets the global HALTED (optionally draining: cancel_open), and a resume lifts
// a global HALTED to ACTIVE. Persistence, the push to the engines, the bus event and the
// start-up override (TRADING_ENABLED=false) are the trading state's.
import type { TradingStates } from './governance/tradingStates.js';

/** The kill switch's view of the global entry: the shape of `state` in POST /kill's answer and
 *  of `trading_state` in /status. */
export interface KillSwitchState {
  readonly trading_enabled: boolean;
  readonly updated_at: string;
  readonly actor: string;
  readonly reason: string;
}

export interface KillSwitchResult {
  readonly state: KillSwitchState;
  readonly canceled: number;
  /** Engines that did not answer; they apply the persisted state when they answer again. */
  readonly unreachable: readonly string[];
}

export class KillSwitch {
  constructor(private readonly states: TradingStates) {}

  get enabled(): boolean {
    return this.states.enabled;
  }

  get current(): KillSwitchState {
    const g = this.states.current.global;
    return { trading_enabled: g.state !== 'HALTED', updated_at: g.updated_at, actor: g.actor, reason: g.reason };
  }

  /** Pauses (global HALTED) or resumes (a global HALTED back to ACTIVE); resolves once every
   *  engine that answers enforces it. A resume leaves a global REDUCING as it is: that grade is
   *  not a kill, and lifting it is a decision of its own (POST /trading/state). */
  async set(enabled: boolean, actor: string, reason: string, opts: { readonly cancelOpen?: boolean } = {}): Promise<KillSwitchResult> {
    if (enabled && this.states.current.global.state !== 'HALTED') return { state: this.current, canceled: 0, unreachable: [] };
    const change = await this.states.set('global', null, enabled ? 'ACTIVE' : 'HALTED', actor, reason, { cancelOpen: opts.cancelOpen === true, source: 'kill' });
    return { state: this.current, canceled: change.canceled, unreachable: change.unreachable };
  }
}
