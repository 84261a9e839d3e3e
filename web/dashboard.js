// Live PnL dashboard. Live over Server-Sent Events (/stream: a portfolio frame each second,
// the leaderboard every 5 s, order/kill-switch/governance events as they happen); when the
// stream is down it polls the Ops API every dashboard_refresh_sec (ops/policies.yaml, read
// from /dashboard/config) until the stream comes back. History (equity, drawdown, model PnL,
// events) comes from the Ops API's store, so a restart shows what was there before it.
// Actions (pause, gradual resume, force-exit, cancel, promote / roll back / retire, weights)
// each confirm what they will do, ask for the operator token once per tab (sessionStorage,
// sent as the X-OPS-TOKEN header, never in a URL) and show the API's answer or refusal in
// place, with its code.
(() => {
  'use strict';

  const TOKEN_KEY = 'hmm.opsToken';
  // Points a chart keeps: a history answer (at most 1500 a series) plus live frames.
  const MAX_POINTS = 5000;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
  const fmt = (x, d = 2) => (isNum(Number(x)) && x !== null && x !== '' ? Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
  const usd = (x, d = 2) => (isNum(x) ? (x < 0 ? '−$' : '$') + fmt(Math.abs(x), d) : '–');
  const signedUsd = (x, d = 2) => (isNum(x) ? (x > 0 ? '+' : x < 0 ? '−' : '') + '$' + fmt(Math.abs(x), d) : '–');
  const pct = (x, d = 2) => (isNum(x) ? fmt(x, d) + '%' : '–');
  const cls = (x) => (x > 0 ? 'pos' : x < 0 ? 'neg' : '');
  const timeOf = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
  const dp = (x) => { const n = Number(x); return !isNum(n) ? 2 : n >= 1000 ? 2 : n >= 1 ? 4 : 6; };
  const ago = (ms) => { const s = Math.max(0, Math.round(ms / 1000)); return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`; };
  function setText(el, text, className) { if (el.textContent !== text) el.textContent = text; if (className !== undefined) el.className = className; }
  // Governance's drawdown statement in a metrics.update: both numbers finite, or none. The
  // rules of src/ops/governance/drawdownStatement.ts (no bundler to share it with), held to
  // them by test/unit/ops/drawdownStatement.test.ts, which runs this very function: keep it
  // self-contained.
  function governanceDrawdownOf(m) {
    if (m === null || typeof m !== 'object') return null;
    const dd = m.drawdown_pct;
    const peak = m.peak_equity;
    return typeof dd === 'number' && Number.isFinite(dd) && typeof peak === 'number' && Number.isFinite(peak) ? { drawdown_pct: dd, peak_equity: peak } : null;
  }

  // ---- state ----
  const config = { refresh_sec: 10 };
  const eq = { t: [], equity: [], dd: [], baseline: null, maxDd: 0 };
  let gov = null; // governance's drawdown figure: { drawdown_pct, peak_equity }
  const mp = { t: [], series: new Map() }; // model → values aligned with mp.t
  let tradingEnabled = null;
  let models = [];
  let registry = new Map(); // model → registry entry (stage, replaced)
  let leaderboard = [];
  let positions = [];
  let openOrders = 0;
  let lastFrameAt = 0;
  let lastBarAt = null;
  let startedAt = null;

  // ---- charts (uPlot, from the installed npm package) ----
  const AXIS = { stroke: '#8b96a5', grid: { stroke: '#1f2731', width: 1 }, ticks: { stroke: '#262f3b', width: 1 }, font: '11px system-ui, sans-serif' };
  // Whole seconds and up: sub-second ticks on a trading chart are noise.
  const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  const hhmmss = (t) => new Date(t * 1000).toLocaleTimeString('en-GB', { hour12: false });
  const PALETTE = ['#58a6ff', '#3fb950', '#bc8cff', '#d29922', '#f778ba', '#39c5cf', '#ff7b72', '#a5d6ff'];
  const charts = {};

  function fill(u, rgb) {
    const ctx = u.ctx;
    const g = ctx.createLinearGradient(0, u.bbox.top, 0, u.bbox.top + u.bbox.height);
    g.addColorStop(0, `rgba(${rgb}, .28)`);
    g.addColorStop(1, `rgba(${rgb}, 0)`);
    return g;
  }

  // A legend off the cursor shows the latest point (not "–"): the values an operator reads at a glance.
  function lastOf(u, sidx) {
    const d = u.data[sidx] || [];
    for (let i = d.length - 1; i >= 0; i--) if (d[i] != null) return d[i];
    return null;
  }
  const latest = (f) => (u, v, sidx, idx) => { const x = idx == null ? lastOf(u, sidx) : v; return x == null ? '–' : f(x); };

  function makeChart(key, el, height, series, extra = {}) {
    if (typeof uPlot === 'undefined') return null;
    const width = Math.max(200, el.clientWidth);
    const opts = {
      width, height, series: [{ label: 'Time', value: latest(hhmmss) }, ...series.map((x) => ({ ...x, value: latest(x.fmt || ((v) => String(v))) }))], legend: { show: extra.legend ?? false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, ...(extra.scales || {}) },
      axes: [
        { ...AXIS, space: 70, incrs: TIME_INCRS, values: (u, splits) => splits.map((t) => hhmmss(t)) },
        { ...AXIS, size: 70, space: extra.ySpace ?? 30, values: extra.yValues },
      ],
    };
    const u = new uPlot(opts, extra.data || [[], ...series.map(() => [])], el);
    charts[key] = { u, el, height };
    return u;
  }

  const ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(() => {
    for (const c of Object.values(charts)) if (c.u && Math.abs(c.u.width - c.el.clientWidth) > 2) c.u.setSize({ width: Math.max(200, c.el.clientWidth), height: c.height });
  }) : null;

  function initCharts() {
    const money = (u, vals) => vals.map((v) => (Math.abs(v) >= 1000 ? '$' + (v / 1000).toFixed(v % 1000 === 0 ? 0 : 1) + 'k' : '$' + v.toFixed(0)));
    makeChart('equity', $('equityChart'), 250, [
      { label: 'Equity', stroke: '#58a6ff', width: 2, fill: (u) => fill(u, '88, 166, 255'), points: { show: false }, fmt: (v) => usd(v) },
      { label: 'Start', stroke: '#6e7a8a', width: 1, dash: [4, 4], points: { show: false }, fmt: (v) => usd(v) },
    ], { yValues: (u, vals) => vals.map((v) => '$' + fmt(v, 0)) });
    makeChart('dd', $('ddChart'), 110, [
      { label: 'Drawdown', stroke: '#f85149', width: 1.5, fill: (u) => fill(u, '248, 81, 73'), points: { show: false }, fmt: (v) => pct(v) },
    ], { ySpace: 18, yValues: (u, vals) => vals.map((v) => v.toFixed(2) + '%'), scales: { y: { range: (u, min) => [Math.min(min, -0.05), 0] } } });
    makeChart('models', $('modelChart'), 248, [], { legend: true, yValues: money });
    if (ro) for (const c of Object.values(charts)) ro.observe(c.el);
  }

  function redrawEquity() {
    const c = charts.equity;
    if (!c) return;
    const base = eq.t.map(() => eq.baseline);
    c.u.setData([eq.t, eq.equity, base]);
    charts.dd.u.setData([eq.t, eq.dd]);
    // What the chart holds, readable without its canvas (operators' scripts, the browser test).
    c.el.dataset.points = String(eq.t.length);
    c.el.dataset.first = eq.t.length ? String(eq.t[0] * 1000) : '';
    const span = eq.t.length > 1 ? eq.t[eq.t.length - 1] - eq.t[0] : 0;
    setText($('equityRange'), span > 0 ? `last ${ago(span * 1000)}` : 'live');
  }

  function redrawModels() {
    const c = charts.models;
    if (!c) return;
    const names = [...mp.series.keys()];
    const have = c.u.series.slice(1).map((s) => s.label);
    if (names.join('\u0000') !== have.join('\u0000')) {
      // the set of models changed: rebuild the chart with one series per model
      c.u.destroy();
      delete charts.models;
      makeChart('models', $('modelChart'), 248, names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: false }, fmt: (v) => signedUsd(v) })),
        { legend: true, yValues: (u, vals) => vals.map((v) => (v < 0 ? '−$' : '$') + fmt(Math.abs(v), Math.abs(v) < 10 ? 2 : 0)) });
      if (ro) ro.observe($('modelChart'));
    }
    charts.models.u.setData([mp.t, ...names.map((n) => mp.series.get(n))]);
  }

  // ---- data in ----
  // Drawdown per point is the server's: below governance's peak equity (kept across restarts),
  // drawn below zero.
  function pushEquity(tsMs, equity, drawdownPct) {
    const t = tsMs / 1000;
    if (eq.t.length && t <= eq.t[eq.t.length - 1]) return false;
    const dd = isNum(drawdownPct) ? -drawdownPct : 0;
    eq.maxDd = Math.min(eq.maxDd, dd);
    eq.t.push(t); eq.equity.push(equity); eq.dd.push(dd);
    if (eq.t.length > MAX_POINTS) { eq.t.shift(); eq.equity.shift(); eq.dd.shift(); }
    return true;
  }

  function pushModelPnl(tsMs, pnl) {
    const t = tsMs / 1000;
    if (mp.t.length && t <= mp.t[mp.t.length - 1]) return;
    for (const name of Object.keys(pnl)) if (!mp.series.has(name)) mp.series.set(name, mp.t.map(() => null));
    mp.t.push(t);
    for (const [name, vals] of mp.series) vals.push(isNum(pnl[name]) ? pnl[name] : null);
    if (mp.t.length > MAX_POINTS) { mp.t.shift(); for (const vals of mp.series.values()) vals.shift(); }
  }

  function onPortfolio(p) {
    lastFrameAt = Date.now();
    if (eq.baseline === null && isNum(p.baseline_equity)) eq.baseline = p.baseline_equity;
    setText($('equity'), usd(p.equity));
    setText($('equitySub'), eq.baseline ? `start ${usd(eq.baseline, 0)}` : '\u00a0');
    setText($('gain'), signedUsd(p.gain), 'v ' + cls(p.gain));
    setText($('gainPct'), (p.gain_pct > 0 ? '+' : '') + pct(p.gain_pct), 's ' + cls(p.gain_pct));
    setText($('realized'), signedUsd(p.realized_pnl), 'v ' + cls(p.realized_pnl));
    setText($('unrealized'), signedUsd(p.unrealized_pnl), 'v ' + cls(p.unrealized_pnl));
    setText($('fees'), usd(p.fees));
    setText($('cash'), usd(p.cash));
    if (pushEquity(Date.parse(p.ts) || Date.now(), p.equity, p.drawdown_pct)) redrawEquity();
    if (p.governance) gov = p.governance;
    renderDrawdown();
    renderExposure(p);
  }

  // The KPI is governance's own figure (GET /governance/status), the one its rules act on.
  function renderDrawdown() {
    const el = $('drawdown');
    if (gov && isNum(gov.drawdown_pct)) {
      setText(el, pct(gov.drawdown_pct), 'v ' + (gov.drawdown_pct > 0.005 ? 'neg' : ''));
      el.dataset.value = String(gov.drawdown_pct);
      el.title = `below governance's peak equity ${usd(gov.peak_equity)}`;
    }
    setText($('maxDd'), `max ${pct(-eq.maxDd)}`);
  }

  function renderExposure(p) {
    let gross = 0, net = 0;
    for (const v of Object.values(p.venues || {})) for (const pos of v.positions || []) { if (pos.qty) { gross += Math.abs(pos.marketValue); net += pos.marketValue; } }
    setText($('exposure'), usd(gross, 0));
    setText($('exposureSub'), `net ${signedUsd(net, 0)} · ${p.equity > 0 ? fmt((gross / p.equity) * 100, 0) : '–'}% eq.`);
    $('exposureSub').title = 'net exposure, and gross exposure as a share of equity';
  }

  // Positions by model (what a force-exit sells), from GET /positions.
  function renderPositions() {
    const rows = positions;
    const gross = rows.reduce((s, r) => s + Math.abs(r.value_usd), 0);
    setText($('posHint'), rows.length ? `${rows.length} open · gross ${usd(gross, 0)}` : '');
    $('positions').tBodies[0].innerHTML = rows.length === 0 ? '<tr><td colspan="9" class="empty">flat: no open positions</td></tr>' : rows.map((r, i) => {
      const share = gross > 0 ? (Math.abs(r.value_usd) / gross) * 100 : 0;
      return `<tr><td class="l" title="${esc(r.engine)}">${esc(r.model)}</td><td class="l"><b>${esc(r.symbol)}</b></td><td class="${cls(r.qty)}">${fmt(r.qty, 5)}</td><td>${fmt(r.avg_price, dp(r.avg_price))}</td><td>${fmt(r.last_price, dp(r.last_price))}</td>`
        + `<td>${usd(r.value_usd)}</td><td class="${cls(r.unrealized_pnl)}">${signedUsd(r.unrealized_pnl)}</td>`
        + `<td><div class="sharebar" title="${fmt(share, 1)}% of gross exposure"><span class="${r.value_usd < 0 ? 'short' : ''}" style="width:${share.toFixed(1)}%"></span></div></td>`
        + `<td><button class="btn small danger act-exit" type="button" data-i="${i}">Exit</button></td></tr>`;
    }).join('');
  }

  function onLeaderboard(rows, tsMs, pnlReady) {
    leaderboard = rows;
    // Before the tracker has read the books every PnL is 0: not a point (no plunge to $0).
    if (pnlReady !== false) pushModelPnl(tsMs, Object.fromEntries(rows.map((r) => [r.model, r.pnl])));
    redrawModels();
    renderLeaderboard();
  }

  function regimeCell(m) {
    const d = (m && m.diagnostics) || {};
    const post = Object.keys(d).filter((k) => /^posterior_\d+$/.test(k)).sort((a, b) => Number(a.slice(10)) - Number(b.slice(10))).map((k) => d[k]);
    if (post.length === 0) return '<span class="muted">–</span>';
    const bars = post.map((p, i) => `<i style="height:${Math.max(2, Math.round(p * 16))}px;opacity:${i === d.regime ? 1 : 0.55}" title="state ${i}: ${fmt(p * 100, 1)}%"></i>`).join('');
    return `<span class="regime">${bars}</span> ${isNum(d.regime) && d.regime >= 0 ? 'R' + d.regime : ''}`;
  }

  // Evidence columns: a Sharpe the tracker withholds (too few bars or trades) shows as "—" with the
  // reason in the Evidence column beside it; PSR = P(true Sharpe > 0), edge = P(beats the live
  // model), both on per-bar returns net of fees.
  function evidenceCells(r) {
    const e = r.evidence;
    if (!e) return '<td class="sharpe muted">–</td><td class="muted">–</td><td class="muted">–</td><td class="l muted">–</td>';
    const prob = (p) => (isNum(p) ? `${fmt(p * 100, 0)}%` : '<span class="muted">—</span>');
    const why = r.sharpe_reason || e.reason || '';
    const sharpe = isNum(r.sharpe) ? `<span class="${cls(r.sharpe)}">${fmt(r.sharpe, 2)}</span>` : `<span class="muted" title="${esc(why)}">—</span>`;
    const state = e.sufficient
      ? `<span class="evidence ok">sufficient</span> <small class="why">${e.bars} bars · ${e.trades} trades</small>`
      : `<span class="evidence" title="${esc(why)}">${esc(String(e.status).replace(/^collecting: /, '')).replace(/, /g, ' · ')}</span>`;
    return `<td class="sharpe">${sharpe}</td><td>${prob(e.psr)}</td><td title="${e.paired_bars} bars paired with the live model">${prob(e.edge_vs_live)}</td>`
      + `<td class="l evidence-state" title="${esc(e.status)}, ${fmt(e.market_hours, 1)} market hours">${state}</td>`;
  }

  function renderLeaderboard() {
    const byId = new Map(models.map((m) => [m.id, m]));
    const rows = leaderboard.length ? leaderboard : models.map((m, i) => ({ rank: i + 1, model: m.id, stage: m.stage, weight: m.weight, capital_quota_usd: m.capital_quota_usd }));
    $('leaderboard').tBodies[0].innerHTML = rows.length === 0 ? '<tr><td colspan="12" class="empty">no models</td></tr>' : rows.map((r) => {
      const m = byId.get(r.model);
      const stage = (m && m.stage) || r.stage || '';
      return `<tr><td>${r.rank}</td><td class="l" title="${esc(m ? m.kind : r.kind || '')}"><b>${esc(r.model)}</b></td><td><span class="tag ${esc(stage)}">${esc(stage)}</span></td>`
        + `<td>${fmt((m ? m.weight : r.weight) * 100, 0)}%</td><td>${usd(m ? m.capital_quota_usd : r.capital_quota_usd, 0)}</td>`
        + `<td class="${cls(r.pnl)}" title="live (real) ${signedUsd(r.live_pnl)} + shadow (paper) ${signedUsd(r.shadow_pnl)} · realized ${signedUsd(r.realized_pnl)} · unrealized ${signedUsd(r.unrealized_pnl)} · fees ${usd(r.fees)}"><b>${signedUsd(r.pnl)}</b></td>`
        + `<td>${usd(r.exposure_usd, 0)}</td>${evidenceCells(r)}<td class="l">${regimeCell(m)}</td></tr>`;
    }).join('');
  }

  function renderAllocations() {
    const total = models.reduce((s, m) => s + (m.capital_quota_usd || 0), 0);
    const max = Math.max(1, ...models.map((m) => m.capital_quota_usd || 0));
    setText($('allocTotal'), total > 0 ? `${usd(total, 0)} allocated` : '');
    $('allocations').innerHTML = models.length === 0 ? '<div class="empty">no models</div>' : models.map((m) => {
      const q = m.capital_quota_usd || 0;
      return `<div class="bar-row" title="${esc(m.id)}: quota ${usd(q)}, weight ${fmt(m.weight * 100, 0)}%">`
        + `<div class="name">${esc(m.id)}<small>weight ${fmt(m.weight * 100, 0)}% · ${esc(m.stage || '')}</small></div>`
        + `<div class="track"><div class="fill" style="width:${((q / max) * 100).toFixed(1)}%"></div></div>`
        + `<div class="amt">${usd(q, 0)}<small>${total > 0 ? fmt((q / total) * 100, 1) : '0'}%</small></div></div>`;
    }).join('');
  }

  const OPEN = new Set(['NEW', 'ACCEPTED', 'PARTIALLY_FILLED']);
  let shownOrders = [];
  function renderOrders(orders) {
    shownOrders = orders;
    setText($('ordersHint'), orders.length ? `latest ${orders.length}` : '');
    $('orders').tBodies[0].innerHTML = orders.length === 0 ? '<tr><td colspan="9" class="empty">no orders yet</td></tr>' : orders.map((o, i) => {
      const reason = o.reject_reason ? o.reject_reason.split(': ')[0] : '';
      const act = OPEN.has(o.status) ? `<button class="btn small act-cancel" type="button" data-i="${i}">Cancel</button>` : '';
      return `<tr><td>${timeOf(o.updated_at)}</td><td class="l">${esc(o.model ?? 'manual')}</td><td class="l">${esc(o.symbol)}</td>`
        + `<td><span class="tag ${o.side === 'BUY' ? 'buy' : 'sell'}">${esc(o.side)}</span></td><td>${esc(o.filled_qty)}/${esc(o.qty)}</td>`
        + `<td>${o.avg_price ? fmt(o.avg_price, dp(o.avg_price)) : '–'}</td><td><span class="tag ${esc(o.status)}">${esc(o.status.replace('_', ' '))}</span></td>`
        + `<td class="l reason" title="${esc(o.reject_reason ?? '')}">${esc(reason)}</td><td>${act}</td></tr>`;
    }).join('');
  }

  function setTrading(enabled, detail) {
    tradingEnabled = enabled;
    const badge = $('trading');
    badge.dataset.state = enabled ? 'on' : 'off';
    setText(badge, enabled ? 'Trading' : 'Paused');
    const btn = $('killBtn');
    btn.disabled = false;
    btn.textContent = enabled ? 'Pause trading' : 'Resume trading';
    btn.className = 'btn ' + (enabled ? 'danger' : 'resume');
    $('gradual').hidden = enabled;
    const ks = $('killState');
    ks.dataset.state = enabled ? 'on' : 'off';
    setText($('killBig'), enabled ? 'TRADING ENABLED' : 'TRADING PAUSED');
    if (detail) {
      const when = detail.updated_at ? new Date(detail.updated_at) : detail.ts ? new Date(detail.ts) : null;
      setText($('killWhy'), `${when ? 'since ' + when.toLocaleString('en-GB', { hour12: false }) + ' · ' : ''}${detail.actor || ''}${detail.reason ? ': ' + detail.reason : ''}`);
    }
  }

  // ---- events feed ----
  const events = [];
  function describe(e) {
    const p = e.payload || {};
    switch (e.topic) {
      // A venue or model state is a graded state, not the kill: say which one changed.
      case 'trading.state': return p.scope && p.scope !== 'global'
        ? { tag: 'gov', label: p.state || 'STATE', msg: `${p.scope} ${p.target}: ${p.state} by ${p.actor}: ${p.reason}` }
        : { tag: p.tradingEnabled ? 'kill-on' : 'kill-off', label: p.tradingEnabled ? (p.state === 'REDUCING' ? 'REDUCING' : 'RESUMED') : 'KILL', msg: `Trading ${p.tradingEnabled ? (p.state === 'REDUCING' ? 'REDUCING' : 'resumed') : 'paused'} by ${p.actor}: ${p.reason}` };
      case 'governance.action': return { tag: 'gov', label: 'GOV', msg: `${p.action}${p.cause ? ' — ' + p.cause : ''}${p.detail && Object.keys(p.detail).length ? ' ' + JSON.stringify(p.detail) : ''}` };
      case 'alert': return { tag: 'alert-' + p.severity, label: p.severity || 'ALERT', msg: `${p.title}${p.message ? ': ' + p.message : ''}` };
      case 'strategy.weights_updated': return { tag: 'weights', label: 'WEIGHTS', msg: Object.entries(p.weights || {}).map(([k, v]) => `${k} ${fmt(v * 100, 0)}%`).join(', ') };
      case 'strategy.promoted': return { tag: 'weights', label: 'PROMOTED', msg: JSON.stringify(p) };
      default: return { tag: '', label: e.topic, msg: JSON.stringify(p) };
    }
  }
  function addEvents(list, prepend) {
    for (const e of list) { if (prepend) events.unshift(e); else events.push(e); }
    events.splice(80);
    $('events').innerHTML = events.length === 0 ? '<li class="empty">no events yet</li>' : events.map((e) => {
      const d = describe(e);
      return `<li><span class="t">${timeOf(e.ts)}</span><span><span class="tag ${esc(d.tag)}">${esc(d.label)}</span></span><span class="msg">${esc(d.msg)}</span></li>`;
    }).join('');
  }

  // ---- fetching ----
  async function getJson(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  async function refreshStatus() {
    const s = await getJson('/status');
    setTrading(s.state.trading_enabled, s.state.trading_state);
    setText($('mode'), (s.state.mode || 'paper').toUpperCase());
    lastBarAt = s.state.last_bar_at ? Date.parse(s.state.last_bar_at) : null;
    startedAt = s.state.started_at ? Date.parse(s.state.started_at) : startedAt;
    const open = Object.values(s.state.engines || {}).reduce((n, e) => n + (e.open_orders || 0), 0);
    openOrders = open;
    setText($('openOrders'), `${open} open order${open === 1 ? '' : 's'}`);
    $('cancelAllBtn').disabled = open === 0;
    setText($('cancelAllBtn'), open > 0 ? `Cancel ${open} open order${open === 1 ? '' : 's'}` : 'No open orders');
    tickClock();
  }
  async function refreshStrategy() {
    const [st, reg] = await Promise.all([getJson('/strategy/status'), getJson('/strategy/registry')]);
    models = st.models || [];
    registry = new Map((reg.models || []).map((m) => [m.id, m]));
    if (!leaderboard.length && st.leaderboard) leaderboard = st.leaderboard;
    renderAllocations();
    renderLeaderboard();
    renderRegimeBand();
    renderModelControls();
  }

  // ---- models & weights: stage changes and weight edits ----
  const NEXT_STAGE = { shadow: 'canary', canary: 'live' };
  let weightsDirty = false;
  function renderModelControls() {
    // An operator typing a weight keeps it until it is saved or the page reloads.
    if (weightsDirty) return;
    const rows = models;
    $('modelsCtl').tBodies[0].innerHTML = rows.length === 0 ? '<tr><td colspan="4" class="empty">no models</td></tr>' : rows.map((m) => {
      const stage = m.stage || 'shadow';
      const next = NEXT_STAGE[stage];
      return `<tr data-model="${esc(m.id)}"><td class="l"><b>${esc(m.id)}</b></td><td><span class="tag ${esc(stage)}">${esc(stage)}</span></td>`
        + `<td><input class="weight" type="number" min="0" max="1" step="0.01" value="${esc(m.weight)}" data-was="${esc(m.weight)}" aria-label="weight of ${esc(m.id)}"></td>`
        + `<td class="l acts"><button class="btn small act-promote" type="button"${next ? '' : ' disabled'} title="${next ? `to ${next}` : 'already live'}">Promote</button>`
        + `<button class="btn small act-rollback" type="button"${stage === 'live' ? '' : ' disabled'}>Roll back</button>`
        + `<button class="btn small danger act-retire" type="button">Retire</button></td></tr>`;
    }).join('');
    $('saveWeightsBtn').disabled = true;
  }

  async function refreshPositions() {
    positions = (await getJson('/positions')).positions || [];
    renderPositions();
  }

  // Regime band (market-hmm): the HMM that trades (live, else canary, else the newest in
  // shadow) draws its most likely regime path over its last bars, band_0 oldest.
  const STAGE_ORDER = { live: 0, canary: 1, shadow: 2 };
  function regimeColor(rank, k) {
    if (k <= 1) return '#8b96a5';
    const x = rank / (k - 1); // 0 bearish … 1 bullish
    if (x < 0.34) return '#ff7b72';
    if (x > 0.66) return '#3fb950';
    return '#8b96a5';
  }
  function renderRegimeBand() {
    const withBand = models.filter((m) => m.kind === 'hmm' && m.diagnostics && m.diagnostics.band_bars > 0);
    withBand.sort((a, b) => (STAGE_ORDER[a.stage] ?? 3) - (STAGE_ORDER[b.stage] ?? 3) || String(b.id).localeCompare(String(a.id), 'en', { numeric: true }));
    const m = withBand[0];
    const el = $('regimeBand');
    if (!m) { el.innerHTML = ''; setText($('regimeBandHint'), 'regime: no HMM running'); return; }
    const d = m.diagnostics;
    const k = Object.keys(d).filter((x) => /^posterior_\d+$/.test(x)).length;
    const cells = [];
    for (let i = 0; i < d.band_bars; i++) {
      const r = d[`band_${i}`];
      cells.push(`<i data-regime="${r}" style="background:${regimeColor(r, k)}" title="${d.band_bars - i - 1} bars ago: regime ${r} of ${k}"></i>`);
    }
    el.innerHTML = cells.join('');
    setText($('regimeBandHint'), `regime of ${m.id} (${m.stage || 'shadow'}), last ${d.band_bars} bars: now R${d.viterbi_regime} of ${k}`);
  }
  async function refreshOrders() {
    renderOrders((await getJson('/orders/recent?limit=25')).orders || []);
  }

  let slowBusy = false;
  async function refreshSlow() {
    if (slowBusy) return;
    slowBusy = true;
    try {
      await Promise.all([refreshStatus(), refreshStrategy(), refreshOrders(), refreshPositions()]);
    } catch (err) {
      setConn('offline', 'Ops API unreachable');
      console.warn('[dashboard] refresh failed:', err.message);
    } finally {
      slowBusy = false;
    }
  }

  let ordersPending = null;
  function scheduleOrders() {
    if (ordersPending) return;
    ordersPending = setTimeout(() => { ordersPending = null; Promise.all([refreshOrders(), refreshPositions(), refreshStatus()]).catch(() => {}); }, 400);
  }

  // ---- live stream with polling fallback ----
  let pollTimer = null;
  function setConn(state, text) { const c = $('conn'); c.dataset.state = state; setText($('connText'), text); }
  function startPolling() {
    if (pollTimer) return;
    setConn('polling', `polling every ${config.refresh_sec}s`);
    const poll = async () => {
      try { onPortfolio(await getJson('/aggregate/portfolio')); } catch { setConn('offline', 'Ops API unreachable'); return; }
      setConn('polling', `polling every ${config.refresh_sec}s`);
      refreshSlow();
    };
    poll();
    pollTimer = setInterval(poll, config.refresh_sec * 1000);
  }
  function stopPolling() { if (pollTimer) clearInterval(pollTimer); pollTimer = null; }

  function connect() {
    if (!window.EventSource) { startPolling(); return; }
    const es = new EventSource('/stream');
    const on = (name, fn) => es.addEventListener(name, (ev) => { try { fn(JSON.parse(ev.data)); } catch (err) { console.warn('[dashboard] bad frame', name, err.message); } });
    es.addEventListener('open', () => { stopPolling(); setConn('live', 'live'); });
    es.addEventListener('error', () => { if (es.readyState !== EventSource.OPEN) startPolling(); });
    on('hello', (h) => { if (isNum(h.refresh_sec)) config.refresh_sec = h.refresh_sec; });
    on('portfolio', (p) => { if (pollTimer) { stopPolling(); setConn('live', 'live'); } onPortfolio(p); });
    on('leaderboard', (l) => onLeaderboard(l.rows || [], Date.parse(l.ts) || Date.now(), l.pnl_ready));
    // Governance states its drawdown with its peak; an injected drill reading carries neither.
    on('metrics.update', (m) => { const s = governanceDrawdownOf(m); if (s !== null) { gov = s; renderDrawdown(); } });
    // The kill panel shows the global entry (a venue or model change leaves its "since" alone).
    on('trading.state', (t) => { setTrading(t.tradingEnabled, t.document ? t.document.global : t); addEvents([{ topic: 'trading.state', ts: t.ts, payload: t }], true); });
    for (const topic of ['order.update', 'trade.fill', 'risk.rejected']) on(topic, scheduleOrders);
    // metrics.update is periodic telemetry: not an event an operator needs in the feed.
    for (const topic of ['governance.action', 'alert', 'strategy.weights_updated', 'strategy.promoted']) {
      on(topic, (p) => {
        addEvents([{ topic, ts: isNum(p.ts) ? p.ts : Date.now(), payload: p }], true);
        if (topic.startsWith('strategy.')) refreshStrategy().catch(() => {});
      });
    }
  }

  function tickClock() {
    if (lastBarAt) setText($('lastBar'), `market ${ago(Date.now() - lastBarAt)} ago`);
    if (startedAt) setText($('uptime'), `up ${ago(Date.now() - startedAt)}`);
  }
  // A stream that is open but silent (a proxy buffering it) is as good as down.
  setInterval(() => {
    if ($('conn').dataset.state === 'live' && lastFrameAt && Date.now() - lastFrameAt > 5000) startPolling();
    tickClock();
  }, 1000);

  // ---- actions: confirm, token, call, answer in place ----
  const dlg = $('dlg');
  function ask({ title, text, input, okText, error }) {
    return new Promise((resolve) => {
      setText($('dlgTitle'), title);
      setText($('dlgText'), text);
      setText($('dlgError'), error || '');
      $('dlgInput').style.display = input ? '' : 'none';
      $('dlgInput').value = '';
      setText($('dlgOk'), okText || 'Continue');
      const done = () => { dlg.removeEventListener('close', done); resolve(dlg.returnValue === 'ok' ? (input ? $('dlgInput').value.trim() || null : true) : null); };
      dlg.addEventListener('close', done);
      dlg.returnValue = '';
      dlg.showModal();
      if (input) $('dlgInput').focus();
    });
  }
  const askToken = (error) => ask({ title: 'Operator token', text: 'Enter the X-OPS-TOKEN (the contents of .ops_token). It is kept for this browser tab only.', input: true, okText: 'Continue', error });

  function showResult(el, ok, text) {
    el.dataset.state = ok ? 'ok' : 'err';
    el.textContent = `${timeOf(Date.now())} ${text}`;
  }

  /**
   * One operator action: a confirmation that names what will happen, the token (asked once per
   * tab; a refused one is asked again), the call, and the API's answer or refusal (its code and
   * message) in `result`. Resolves to the response body on success, else null.
   */
  async function baseAct({ title, text, okText, path, body, result, button, done }) {
    if (!(await ask({ title, text, input: false, okText }))) return null;
    let token = sessionStorage.getItem(TOKEN_KEY);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!token) token = await askToken(attempt > 0 ? 'That token was refused.' : '');
      if (!token) { showResult(result, false, `${title}: not sent (no operator token)`); return null; }
      if (button) button.disabled = true;
      try {
        const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': token }, body: JSON.stringify(body) });
        if (r.status === 401) { sessionStorage.removeItem(TOKEN_KEY); token = null; continue; }
        sessionStorage.setItem(TOKEN_KEY, token);
        const answer = await r.json().catch(() => ({}));
        if (!r.ok) {
          showResult(result, false, `refused (HTTP ${r.status}${answer.code ? ' ' + answer.code : ''}): ${answer.error || answer.message || answer.reason || 'no reason given'}`);
          return null;
        }
        showResult(result, answer.ok !== false, done(answer));
        refreshSlow();
        return answer;
      } catch (err) {
        showResult(result, false, `${title} failed: ${err.message}`);
        return null;
      } finally {
        if (button) button.disabled = false;
      }
    }
    showResult(result, false, `${title}: the token was refused three times`);
    return null;
  }

  const unreachable = (a) => (a.unreachable_engines && a.unreachable_engines.length ? ` (not yet reached: ${a.unreachable_engines.join(', ')}; they get it when they answer)` : '');

  $('killBtn').addEventListener('click', () => {
    const enable = !tradingEnabled;
    baseAct({
      ...(enable
        ? { title: 'Resume trading', text: 'Every engine will accept orders again at full size (the global trading state goes back to ACTIVE). Check positions and drawdown first.', okText: 'Resume trading' }
        : { title: 'Pause trading', text: `Every engine stops taking new orders now (the global trading state becomes HALTED, kept across restarts) until you resume. ${openOrders > 0 ? `The ${openOrders} open order${openOrders === 1 ? '' : 's'} stay on the book: cancel them with "Cancel open orders".` : 'No order is open.'}`, okText: 'Pause trading' }),
      path: '/kill', body: { enabled: enable, reason: enable ? 'resumed from the dashboard' : 'paused from the dashboard' },
      result: $('killResult'), button: $('killBtn'),
      done: (a) => { setTrading(a.state.trading_enabled, a.state); return `${enable ? 'Trading resumed' : 'Trading paused'}${unreachable(a)}`; },
    });
  });

  $('gradualBtn').addEventListener('click', async () => {
    const pctStart = Number($('gradualPct').value);
    if (!isNum(pctStart) || pctStart < 10 || pctStart > 100) { showResult($('killResult'), false, 'Resume gradually: the starting size must be between 10% and 100%'); return; }
    let rec = null;
    try { rec = (await getJson('/governance/status')).policy.recovery; } catch { /* described without it */ }
    const ramp = rec && isNum(rec.step) && rec.step > 0
      ? `Governance then raises it by ${fmt(rec.step * 100, 0)} points after every ${rec.window_sec} s with every rule clear, back to 100% in about ${Math.ceil(((100 - pctStart) / (rec.step * 100)) * rec.window_sec / 60)} min.`
      : 'Governance then raises it step by step after calm windows.';
    await baseAct({
      title: 'Resume gradually', okText: `Resume at ${pctStart}%`,
      text: `Every engine accepts orders again (global state ACTIVE), and every new order is sized at ${pctStart}% of normal (exposure multiplier ×${(pctStart / 100).toFixed(2)}). ${ramp}`,
      path: '/kill', body: { enabled: true, exposure_multiplier: pctStart / 100, reason: `gradual resume from the dashboard at ${pctStart}%` },
      result: $('killResult'), button: $('gradualBtn'),
      done: (a) => { setTrading(a.state.trading_enabled, a.state); return `Trading resumed at ×${a.exposure ? a.exposure.to.toFixed(2) : (pctStart / 100).toFixed(2)} size; governance steps it back up${unreachable(a)}`; },
    });
  });

  $('positions').addEventListener('click', (ev) => {
    const btn = ev.target.closest('.act-exit');
    if (!btn) return;
    const r = positions[Number(btn.dataset.i)];
    if (!r) return;
    baseAct({
      title: 'Force-exit a position', okText: `Sell ${r.symbol}`,
      text: `Sell all ${fmt(r.qty, 5)} ${r.symbol} held by ${r.model} at ${r.engine}, at market now (about ${usd(r.value_usd)}), in orders no larger than MAX_NOTIONAL_USDT. It goes through the risk rails: refused while trading is HALTED.`,
      path: '/positions/force-exit', body: { model: r.model, symbol: r.symbol, engine: r.engine, reason: 'force-exit from the dashboard' },
      result: $('posResult'), button: btn,
      done: (a) => `Force-exit ${r.model} ${r.symbol}: sold ${a.sold}${a.ok ? '' : ` — stopped: ${(a.exits.find((x) => x.stopped) || {}).stopped?.reason || ''}`}`,
    });
  });

  $('orders').addEventListener('click', (ev) => {
    const btn = ev.target.closest('.act-cancel');
    if (!btn) return;
    const o = shownOrders[Number(btn.dataset.i)];
    if (!o) return;
    baseAct({
      title: 'Cancel an order', okText: 'Cancel the order',
      text: `Cancel ${o.side} ${o.qty} ${o.symbol}${o.price ? ' @ ' + o.price : ''} (${o.client_order_id}, ${o.status}, ${o.filled_qty} filled) at ${o.venue}. What is filled stays filled.`,
      path: '/orders/cancel', body: { client_order_id: o.client_order_id, reason: 'canceled from the dashboard' },
      result: $('ordersResult'), button: btn,
      done: (a) => `Canceled ${a.order ? a.order.client_order_id : o.client_order_id}`,
    });
  });
  $('cancelAllBtn').addEventListener('click', () => {
    baseAct({
      title: 'Cancel open orders', okText: 'Cancel all open orders',
      text: `Cancel every open order at every engine (${openOrders} now). Filled quantities stay filled; trading itself is not paused.`,
      path: '/orders/cancel', body: { all: true, reason: 'canceled from the dashboard' },
      result: $('ordersResult'), button: $('cancelAllBtn'),
      done: (a) => `Canceled ${a.canceled} open order${a.canceled === 1 ? '' : 's'}`,
    });
  });

  $('modelsCtl').addEventListener('input', (ev) => {
    if (!ev.target.classList.contains('weight')) return;
    weightsDirty = [...document.querySelectorAll('#modelsCtl input.weight')].some((i) => i.value !== i.dataset.was);
    $('saveWeightsBtn').disabled = !weightsDirty;
  });
  $('saveWeightsBtn').addEventListener('click', async () => {
    const changes = [...document.querySelectorAll('#modelsCtl input.weight')].filter((i) => i.value !== i.dataset.was)
      .map((i) => ({ model: i.closest('tr').dataset.model, from: Number(i.dataset.was), to: i.value === '' ? NaN : Number(i.value) }));
    if (changes.length === 0) return;
    const a = await baseAct({
      title: 'Set model weights', okText: 'Set weights',
      text: `Write ops/strategy_weights.json: ${changes.map((c) => `${c.model} ${fmt(c.from, 2)} → ${fmt(c.to, 2)}`).join(', ')}. A model's order size is its quota × weight × signal strength; weight 0 puts a model in shadow, a weight on a shadow model makes it live.`,
      path: '/strategy/weights', body: { weights: Object.fromEntries(changes.map((c) => [c.model, c.to])) },
      result: $('modelsResult'), button: $('saveWeightsBtn'),
      done: (r) => `Weights set: ${changes.map((c) => `${c.model} ${fmt(r.weights[c.model], 2)}`).join(', ')}`,
    });
    if (a) { weightsDirty = false; refreshStrategy().catch(() => {}); }
  });

  $('modelsCtl').addEventListener('click', (ev) => {
    const btn = ev.target.closest('.act-promote, .act-rollback, .act-retire');
    if (!btn) return;
    const id = btn.closest('tr').dataset.model;
    const m = models.find((x) => x.id === id) || { id, stage: 'shadow' };
    const stage = m.stage || 'shadow';
    const liveOthers = models.filter((x) => x.stage === 'live' && x.id !== id).map((x) => x.id);
    const entry = registry.get(id) || {};
    let o;
    if (btn.classList.contains('act-promote')) {
      const to = NEXT_STAGE[stage];
      o = {
        title: 'Promote a model', okText: `Promote to ${to}`,
        text: to === 'live'
          ? `Promote ${id} from ${stage} to live (weight canary.live_weight).${liveOthers.length ? ` ${liveOthers.join(', ')} ${liveOthers.length === 1 ? 'goes' : 'go'} to shadow and ${liveOthers.length === 1 ? 'its' : 'their'} positions are sold (flatten_on_demotion); a rollback returns to ${liveOthers[0]}.` : ''}`
          : `Promote ${id} from ${stage} to ${to}: it starts trading real orders at canary.canary_weight, judged by the canary rules from now.`,
        path: '/strategy/promote', body: { model: id, stage: to, reason: 'promoted from the dashboard' },
      };
    } else if (btn.classList.contains('act-rollback')) {
      o = {
        title: 'Roll back a model', okText: 'Roll back',
        text: entry.replaced
          ? `Roll back ${id}: it goes to shadow and its positions are sold; ${entry.replaced}, the model it replaced, is live again.`
          : `Roll back ${id}: it goes to shadow and the model it replaced is live again. (The registry names no model it replaced: the API will say so.)`,
        path: '/strategy/rollback', body: { model: id, reason: 'rolled back from the dashboard' },
      };
    } else {
      o = {
        title: 'Retire a model', okText: `Retire ${id}`,
        text: `Retire ${id} (now ${stage}): it stops running and is never judged or traded again${stage === 'live' || stage === 'canary' ? '; its positions are sold' : ''}. Its history stays in the registry. This cannot be undone from the dashboard.`,
        path: '/strategy/promote', body: { model: id, stage: 'retired', reason: 'retired from the dashboard' },
      };
    }
    baseAct({
      ...o, result: $('modelsResult'), button: btn,
      done: (a) => `${a.action} ${a.model}: ${a.from} → ${a.to}${a.counterpart ? ` (${a.counterpart} ${a.action === 'rollback' ? 'live again' : 'to shadow'})` : ''}`,
    });
  });

  // ---- start ----
  async function loadHistory() {
    const h = await getJson('/dashboard/history');
    if (isNum(h.baseline_equity)) eq.baseline = h.baseline_equity;
    if (h.governance) gov = h.governance;
    for (const p of h.points || []) pushEquity(p.ts, p.equity, p.drawdown_pct);
    renderDrawdown();
    for (const p of h.model_pnl || []) pushModelPnl(p.ts, p.pnl);
    redrawEquity();
    redrawModels();
  }

  async function start() {
    initCharts();
    try {
      const c = await getJson('/dashboard/config');
      if (isNum(c.refresh_sec)) config.refresh_sec = c.refresh_sec;
    } catch { /* defaults */ }
    await Promise.all([
      loadHistory().catch((err) => console.warn('[dashboard] no history:', err.message)),
      getJson('/dashboard/events?limit=60').then((r) => addEvents(r.events || [], false)).catch(() => {}),
      refreshSlow(),
    ]);
    connect();
    // Weights, quotas, status and orders also change without an event (allocator, file edits).
    setInterval(refreshSlow, Math.max(2, config.refresh_sec) * 1000);
  }
  start();
})();
