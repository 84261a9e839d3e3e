// Where every operator-visible file lives, relative to the stack's root (paths as in the runbook).
import { join } from 'node:path';

export function stackPaths(root: string) {
  return {
    root,
    policies: join(root, 'ops/policies.yaml'),
    capitalPolicy: join(root, 'ops/capital_policy.json'),
    strategyWeights: join(root, 'ops/strategy_weights.json'),
    strategyRegistry: join(root, 'ops/strategy_registry.json'),
    capitalAllocations: join(root, 'ops/capital_allocations.json'),
    /** Every quota change (GET /strategy/allocations). */
    capitalAllocationsHistory: join(root, 'ops/capital_allocations_history.json'),
    aggregateExposure: join(root, 'ops/aggregate_exposure.json'),
    /** The trading states (global, per venue, per model), versioned: TradingStates' document. */
    tradingStates: join(root, 'ops/trading_states.json'),
    /** The old kill switch's file (ops/state.json): read once at start to migrate it into ops/trading_states.json. */
    opsState: join(root, 'ops/state.json'),
    exportsDir: join(root, 'ops/exports'),
    opsLog: join(root, 'ops/logs/ops.log'),
    opsLogsDir: join(root, 'ops/logs'),
    /** The control plane's audit trail of control actions. */
    opsAudit: join(root, 'ops/logs/audit.jsonl'),
    /** Governance's multiplier, recovery and escalation memory across restarts. */
    governanceState: join(root, 'ops/governance_state.json'),
    /** When the daily digest last went out. */
    alertState: join(root, 'ops/alert_state.json'),
    shadowBook: join(root, 'ops/shadow_book.json'),
    /** The dashboard's equity, drawdown, events and model PnL (SQLite). */
    dashboardHistory: join(root, 'ops/dashboard_history.sqlite'),
    /** The Telegram command bot's update offset and pending confirmations. */
    telegramState: join(root, 'ops/telegram_state.json'),
    modelsDir: join(root, 'ops/models'),
    tokenFile: join(root, '.ops_token'),
    /** Extra operator tokens, one per line (re-read on change). */
    tokensFile: join(root, '.ops_tokens'),
    /** Digests of retiring tokens (the control plane's; an engine process keeps its own). */
    opsTokenGrace: join(root, 'ops/token_grace.json'),
    engineTokenGrace: join(root, 'engine/state/token_grace.json'),
    /** An engine process's audit trail. */
    engineAudit: join(root, 'engine/logs/audit.jsonl'),
    engineStateDir: join(root, 'engine/state'),
    portfolioSnapshot: join(root, 'engine/state/portfolio.json'),
    ledger: (engine: string) => join(root, `engine/state/${engine}.ledger.sqlite`),
    /** A stop the engine put on itself, kept until `hmm engine ack <engine>`. */
    engineStop: (engine: string) => join(root, `engine/state/${engine}.stop.json`),
    /** Event ids this control plane has taken from the shared bus (each engine's high-water mark). */
    busMarks: join(root, 'ops/bus_marks.json'),
    simVenueState: (engine: string) => join(root, `engine/state/${engine}.venue.sqlite`),
    /** The synthetic market's state and recent bars (it continues after a restart). */
    marketState: (engine: string) => join(root, `engine/state/${engine}.market.json`),
    orderLog: join(root, 'engine/logs/orders.jsonl'),
    engineLogsDir: join(root, 'engine/logs'),
    /** An engine process's own log (rotated like ops.log). */
    engineLog: (engine: string) => join(root, `engine/logs/${engine}.log`),
  };
}

export type StackPaths = ReturnType<typeof stackPaths>;
