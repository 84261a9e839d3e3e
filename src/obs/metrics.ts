// Prometheus metrics for the whole stack (prom-client). One registry per process; every
// series is labelled only by bounded sets (venue, model, symbol, reason, state), so the
// series count grows with venues × models, never with orders or time.
import client from 'prom-client';
import { LabelGuard, guardMetric } from './labelGuard.js';

export type Registry = client.Registry;

export function createMetrics(opts: { collectProcess?: boolean } = {}) {
  const registry = new client.Registry();
  // Account gauges (equity, cash, PnL, exposure, open orders) are computed when they are read
  // (a scrape, or registry.metrics()), not after every order: their owners register here.
  const refreshers = new Set<() => void>();
  let refreshing = false;
  const refresh = function refreshAccountGauges(): void {
    if (refreshing) return;
    refreshing = true; // one refresh serves every gauge read in the same tick
    queueMicrotask(() => { refreshing = false; });
    for (const fn of refreshers) fn();
  };
  const onRead = { collect: refresh };
  if (opts.collectProcess ?? true) {
    client.collectDefaultMetrics({ register: registry, prefix: 'hmm_' });
    // prom-client exports these three as gauges named *_total, which `promtool check metrics`
    // flags (a _total suffix means a counter). The same counts stay exported by type
    // (hmm_nodejs_active_handles{type}, ...), so dropping the totals loses nothing.
    for (const name of ['hmm_nodejs_active_handles_total', 'hmm_nodejs_active_requests_total', 'hmm_nodejs_active_resources_total']) registry.removeSingleMetric(name);
  }
  const r = [registry];
  const metrics = {
    registry,
    ordersSubmitted: new client.Counter({ name: 'hmm_orders_submitted_total', help: 'Orders that passed the risk rails and were sent to the venue', labelNames: ['venue', 'model'], registers: r }),
    ordersRejected: new client.Counter({ name: 'hmm_orders_rejected_total', help: 'Orders rejected by risk rails or venue, by reason code', labelNames: ['venue', 'reason'], registers: r }),
    ordersFilled: new client.Counter({ name: 'hmm_orders_filled_total', help: 'Orders completely filled', labelNames: ['venue', 'model'], registers: r }),
    fills: new client.Counter({ name: 'hmm_fills_total', help: 'Fills booked in the ledger', labelNames: ['venue', 'liquidity'], registers: r }),
    duplicateRequests: new client.Counter({ name: 'hmm_order_idempotent_replays_total', help: 'Order submissions answered from the idempotency record', labelNames: ['venue'], registers: r }),
    routingSeconds: new client.Histogram({
      name: 'hmm_order_routing_seconds',
      help: 'Time from order intake to venue acknowledgement',
      labelNames: ['venue'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    /** Owners of the account gauges register a function that sets them; it runs on read. */
    accountRefreshers: refreshers,
    equity: new client.Gauge({ name: 'hmm_equity_usd', help: 'Account equity (cash + marked positions)', labelNames: ['venue'], registers: r, ...onRead }),
    cash: new client.Gauge({ name: 'hmm_cash_usd', help: 'Cash balance in quote currency', labelNames: ['venue'], registers: r, ...onRead }),
    realizedPnl: new client.Gauge({ name: 'hmm_pnl_realized_usd', help: 'Realized PnL (gross of fees)', labelNames: ['venue'], registers: r, ...onRead }),
    unrealizedPnl: new client.Gauge({ name: 'hmm_pnl_unrealized_usd', help: 'Unrealized PnL at last price', labelNames: ['venue'], registers: r, ...onRead }),
    feesPaid: new client.Gauge({ name: 'hmm_fees_usd', help: 'Fees paid', labelNames: ['venue'], registers: r, ...onRead }),
    exposure: new client.Gauge({ name: 'hmm_exposure_usd', help: 'Absolute position value by symbol', labelNames: ['venue', 'symbol'], registers: r, ...onRead }),
    openOrders: new client.Gauge({ name: 'hmm_open_orders', help: 'Open orders at the engine', labelNames: ['venue'], registers: r, ...onRead }),
    tradingEnabled: new client.Gauge({ name: 'hmm_trading_enabled', help: '1 when trading is enabled (kill switch off)', labelNames: ['scope'], registers: r }),
    modelWeight: new client.Gauge({ name: 'hmm_model_weight', help: 'Strategy router weight per model', labelNames: ['model'], registers: r }),
    capitalQuota: new client.Gauge({ name: 'hmm_capital_quota_usd', help: 'Capital quota per model', labelNames: ['model'], registers: r }),
    signals: new client.Counter({ name: 'hmm_signals_total', help: 'Signals received by the strategy router, by outcome', labelNames: ['model', 'outcome'], registers: r }),
    busEvents: new client.Counter({ name: 'hmm_bus_events_total', help: 'Events published on the bus', labelNames: ['topic'], registers: r }),
    busEventsRefused: new client.Counter({ name: 'hmm_bus_events_refused_total', help: 'Bus events the control plane refused because a number was out of range (bus/inputBounds.ts), by topic', labelNames: ['topic'], registers: r }),
    sseClients: new client.Gauge({ name: 'hmm_sse_clients', help: 'Connected dashboard stream clients', registers: r }),
    venueErrors: new client.Counter({ name: 'hmm_venue_errors_total', help: 'Venue request errors', labelNames: ['venue', 'kind'], registers: r }),
    venueLatency: new client.Histogram({ name: 'hmm_venue_latency_seconds', help: 'Venue request latency', labelNames: ['venue', 'op'], buckets: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r }),
    lastBarAge: new client.Gauge({ name: 'hmm_market_data_last_bar_timestamp_seconds', help: 'Time of the last market data bar per symbol', labelNames: ['symbol'], registers: r }),
    policyReloads: new client.Counter({ name: 'hmm_policy_reloads_total', help: 'Policy file reloads by result', labelNames: ['file', 'result'], registers: r }),
    // Added for observability (issue 4): governance, regimes, per-model PnL, drawdown, engine reachability.
    /** Incremented by the governance daemon for each action it takes (reduce_exposure, pause_trading, ...). */
    governanceActions: new client.Counter({ name: 'hmm_governance_actions_total', help: 'Governance actions taken, by action', labelNames: ['action'], registers: r }),
    // Governance, trading states, alert delivery and audit (issue 5).
    exposureMultiplier: new client.Gauge({ name: 'hmm_exposure_multiplier', help: 'Governance exposure multiplier applied to new orders (1 = full size)', registers: r }),
    storageFault: new client.Gauge({ name: 'hmm_storage_fault', help: '1 while the disk under HMM_ROOT refuses writes (or is under the free-space floor): new orders are refused (STORAGE)', labelNames: ['code'], registers: r }),
    storageFreeBytes: new client.Gauge({ name: 'hmm_storage_free_bytes', help: 'Free bytes on the filesystem of HMM_ROOT at the last storage check', registers: r }),
    tradingState: new client.Gauge({ name: 'hmm_trading_state', help: 'Graded trading state: 0 ACTIVE, 1 REDUCING, 2 HALTED', labelNames: ['scope', 'target'], registers: r }),
    alertDeliveries: new client.Counter({ name: 'hmm_alert_deliveries_total', help: 'Alert messages by channel and result (sent, failed, dropped, coalesced)', labelNames: ['channel', 'result'], registers: r }),
    telegramUpdates: new client.Counter({ name: 'hmm_telegram_updates_total', help: 'Telegram updates the command bot took, by result (command, confirmed, cancelled, expired, refused, unauthorized, ignored, failed)', labelNames: ['result'], registers: r }),
    auditEntries: new client.Counter({ name: 'hmm_audit_entries_total', help: 'Control actions written to ops/logs/audit.jsonl, by result', labelNames: ['result'], registers: r }),
    /** governance.action events seen on the bus (from any publisher, including POST /bus/publish). */
    governanceEvents: new client.Counter({ name: 'hmm_governance_events_total', help: 'governance.action events seen on the bus, by action', labelNames: ['action'], registers: r }),
    alerts: new client.Counter({ name: 'hmm_alerts_total', help: 'alert events seen on the bus, by severity', labelNames: ['severity'], registers: r }),
    regimePosterior: new client.Gauge({ name: 'hmm_regime_posterior', help: 'Filtered posterior probability of each HMM regime (state) per model', labelNames: ['model', 'state'], registers: r }),
    regime: new client.Gauge({ name: 'hmm_model_regime', help: 'Most likely current regime (state index) per HMM model', labelNames: ['model'], registers: r }),
    modelPnl: new client.Gauge({ name: 'hmm_model_pnl_usd', help: 'Net PnL per model over its life, paper (shadow book) plus real (engine book): realized + unrealized - fees', labelNames: ['model'], registers: r }),
    modelExposure: new client.Gauge({ name: 'hmm_model_exposure_usd', help: 'Absolute position value held per model', labelNames: ['model'], registers: r }),
    netExposure: new client.Gauge({ name: 'hmm_exposure_net_usd', help: 'Signed position value by symbol (long > 0, short < 0)', labelNames: ['venue', 'symbol'], registers: r }),
    equityPeak: new client.Gauge({ name: 'hmm_equity_peak_usd', help: 'The equity peak drawdown is measured from, per venue and for the whole portfolio: the starting capital until equity rises above it; the portfolio\'s is governance\'s (kept across restarts)', labelNames: ['scope'], registers: r }),
    drawdown: new client.Gauge({ name: 'hmm_drawdown_ratio', help: 'Drawdown from the equity peak as a fraction (0.05 = 5 %), per venue and for the whole portfolio; the peak starts at the starting capital, and the portfolio\'s is governance\'s (kept across restarts)', labelNames: ['scope'], registers: r }),
    engineUp: new client.Gauge({ name: 'hmm_engine_up', help: '1 when the control plane reaches the engine (its /health answers)', labelNames: ['engine'], registers: r }),
    collectorErrors: new client.Counter({ name: 'hmm_metrics_collector_errors_total', help: 'Metric refreshes that failed, by source', labelNames: ['source'], registers: r }),
    labelOverflow: new client.Counter({ name: 'hmm_metric_label_overflow_total', help: 'Label values mapped to "other" because a label reached its cardinality cap', labelNames: ['metric', 'label'], registers: r }),
  };
  // Every labelled metric goes through one guard: at most this many distinct values per label
  // (unlisted labels: 256), so /metrics stays bounded whatever strings venues or publishers send.
  const guard = new LabelGuard({
    caps: { venue: 32, engine: 32, scope: 64, model: 128, symbol: 256, reason: 48, action: 32, kind: 16, op: 16, state: 16, severity: 8, topic: 64, outcome: 16, liquidity: 4, file: 16, result: 8, metric: 128, label: 16, source: 16 },
    onOverflow: (metric, label) => metrics.labelOverflow.inc({ metric, label }),
  });
  // labelOverflow is left unguarded: its values are our own metric and label names (bounded by
  // code), and guarding it would let an overflow report recurse into itself.
  for (const m of Object.values(metrics)) if (m !== registry && m !== metrics.labelOverflow && m !== refreshers) guardMetric(m, guard);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
