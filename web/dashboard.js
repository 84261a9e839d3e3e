// Live PnL dashboard. Live over Server-Sent Events (/stream: a portfolio frame each second,
// the leaderboard every 5 s, order/kill-switch/governance events as they happen); when the
// stream is down it polls the Ops API every dashboard_refresh_sec (ops/policies.yaml, read
// from /dashboard/config) until the stream comes back. The kill control asks for the
// operator token once and keeps it in sessionStorage (this tab only).
(() => {
  'use strict';

  const TOKEN_KEY = 'hmm.opsToken';
  const MAX_POINTS = 3600;
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

  // ---- state ----
  const config = { refresh_sec: 10 };
  const eq = { t: [], equity: [], dd: [], baseline: null, peak: -Infinity, maxDd: 0 };
  const mp = { t: [], series: new Map() }; // model → values aligned with mp.t
  let tradingEnabled = null;
  let models = [];
  let leaderboard = [];
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

  function makeChart(key, el, height, series, extra = {}) {
    if (typeof uPlot === 'undefined') return null;
    const width = Math.max(200, el.clientWidth);
    const opts = {
      width, height, series: [{ label: 'Time', value: (u, v) => (v == null ? '–' : hhmmss(v)) }, ...series], legend: { show: extra.legend ?? false },
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
      { label: 'Equity', stroke: '#58a6ff', width: 2, fill: (u) => fill(u, '88, 166, 255'), points: { show: false }, value: (u, v) => usd(v) },
      { label: 'Start', stroke: '#6e7a8a', width: 1, dash: [4, 4], points: { show: false }, value: (u, v) => usd(v) },
    ], { yValues: (u, vals) => vals.map((v) => '$' + fmt(v, 0)) });
    makeChart('dd', $('ddChart'), 110, [
      { label: 'Drawdown', stroke: '#f85149', width: 1.5, fill: (u) => fill(u, '248, 81, 73'), points: { show: false }, value: (u, v) => pct(v) },
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
      makeChart('models', $('modelChart'), 248, names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: false }, value: (u, v) => signedUsd(v) })),
        { legend: true, yValues: (u, vals) => vals.map((v) => (v < 0 ? '−$' : '$') + fmt(Math.abs(v), Math.abs(v) < 10 ? 2 : 0)) });
      if (ro) ro.observe($('modelChart'));
    }
    charts.models.u.setData([mp.t, ...names.map((n) => mp.series.get(n))]);
  }

  // ---- data in ----
  function pushEquity(tsMs, equity) {
    const t = tsMs / 1000;
    if (eq.t.length && t <= eq.t[eq.t.length - 1]) return false;
    eq.peak = Math.max(eq.peak, equity);
    const dd = eq.peak > 0 ? ((equity - eq.peak) / eq.peak) * 100 : 0;
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
    if (mp.t.length > MAX_POINTS / 5) { mp.t.shift(); for (const vals of mp.series.values()) vals.shift(); }
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
    if (pushEquity(Date.parse(p.ts) || Date.now(), p.equity)) redrawEquity();
    const dd = eq.dd.length ? eq.dd[eq.dd.length - 1] : 0;
    setText($('drawdown'), pct(dd), 'v ' + (dd < -0.005 ? 'neg' : ''));
    setText($('maxDd'), `max ${pct(eq.maxDd)}`);
    renderPositions(p);
  }

  function renderPositions(p) {
    const bySym = new Map();
    for (const v of Object.values(p.venues || {})) {
      for (const pos of v.positions || []) {
        if (!pos.qty) continue;
        const a = bySym.get(pos.symbol) || { symbol: pos.symbol, qty: 0, cost: 0, last: pos.lastPrice, value: 0, upnl: 0 };
        a.qty += pos.qty; a.cost += pos.qty * pos.avgPrice; a.value += pos.marketValue; a.upnl += pos.unrealizedPnl;
        if (pos.lastPrice !== null && pos.lastPrice !== undefined) a.last = pos.lastPrice;
        bySym.set(pos.symbol, a);
      }
    }
    const rows = [...bySym.values()].sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
    const gross = rows.reduce((s, r) => s + Math.abs(r.value), 0);
    const net = rows.reduce((s, r) => s + r.value, 0);
    setText($('exposure'), usd(gross, 0));
    setText($('exposureSub'), `net ${signedUsd(net, 0)} · ${p.equity > 0 ? fmt((gross / p.equity) * 100, 0) : '–'}% eq.`);
    $('exposureSub').title = 'net exposure, and gross exposure as a share of equity';
    setText($('posHint'), rows.length ? `${rows.length} open · gross ${usd(gross, 0)}` : '');
    $('positions').tBodies[0].innerHTML = rows.length === 0 ? '<tr><td colspan="7" class="empty">flat: no open positions</td></tr>' : rows.map((r) => {
      const share = gross > 0 ? (Math.abs(r.value) / gross) * 100 : 0;
      const avg = r.qty !== 0 ? r.cost / r.qty : null;
      return `<tr><td><b>${esc(r.symbol)}</b></td><td class="${cls(r.qty)}">${fmt(r.qty, 5)}</td><td>${fmt(avg, dp(avg))}</td><td>${fmt(r.last, dp(r.last))}</td>`
        + `<td>${usd(r.value)}</td><td class="${cls(r.upnl)}">${signedUsd(r.upnl)}</td>`
        + `<td><div class="sharebar" title="${fmt(share, 1)}% of gross exposure"><span class="${r.value < 0 ? 'short' : ''}" style="width:${share.toFixed(1)}%"></span></div></td></tr>`;
    }).join('');
  }

  function onLeaderboard(rows, tsMs) {
    leaderboard = rows;
    pushModelPnl(tsMs, Object.fromEntries(rows.map((r) => [r.model, r.pnl])));
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
        + `<td class="${cls(r.pnl)}" title="realized ${signedUsd(r.realized_pnl)} · unrealized ${signedUsd(r.unrealized_pnl)} · fees ${usd(r.fees)}"><b>${signedUsd(r.pnl)}</b></td>`
        + `<td>${usd(r.exposure_usd, 0)}</td>${evidenceCells(r)}<td>${regimeCell(m)}</td></tr>`;
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

  function renderOrders(orders) {
    setText($('ordersHint'), orders.length ? `latest ${orders.length}` : '');
    $('orders').tBodies[0].innerHTML = orders.length === 0 ? '<tr><td colspan="8" class="empty">no orders yet</td></tr>' : orders.map((o) => {
      const reason = o.reject_reason ? o.reject_reason.split(': ')[0] : '';
      return `<tr><td>${timeOf(o.updated_at)}</td><td class="l">${esc(o.model ?? 'manual')}</td><td class="l">${esc(o.symbol)}</td>`
        + `<td><span class="tag ${o.side === 'BUY' ? 'buy' : 'sell'}">${esc(o.side)}</span></td><td>${esc(o.filled_qty)}/${esc(o.qty)}</td>`
        + `<td>${o.avg_price ? fmt(o.avg_price, dp(o.avg_price)) : '–'}</td><td><span class="tag ${esc(o.status)}">${esc(o.status.replace('_', ' '))}</span></td>`
        + `<td class="l reason" title="${esc(o.reject_reason ?? '')}">${esc(reason)}</td></tr>`;
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
    setText($('openOrders'), `${open} open order${open === 1 ? '' : 's'}`);
    tickClock();
  }
  async function refreshStrategy() {
    const st = await getJson('/strategy/status');
    models = st.models || [];
    if (!leaderboard.length && st.leaderboard) leaderboard = st.leaderboard;
    renderAllocations();
    renderLeaderboard();
    renderRegimeBand();
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
      await Promise.all([refreshStatus(), refreshStrategy(), refreshOrders()]);
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
    ordersPending = setTimeout(() => { ordersPending = null; refreshOrders().catch(() => {}); }, 400);
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
    on('leaderboard', (l) => onLeaderboard(l.rows || [], Date.parse(l.ts) || Date.now()));
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

  // ---- the kill switch control ----
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

  async function toggleTrading() {
    const enable = !tradingEnabled;
    if (enable && !(await ask({ title: 'Resume trading?', text: 'Every engine will accept orders again. Check positions and drawdown first.', input: false, okText: 'Resume trading' }))) return;
    let token = sessionStorage.getItem(TOKEN_KEY);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!token) token = await askToken(attempt > 0 ? 'That token was refused.' : '');
      if (!token) return;
      const btn = $('killBtn');
      btn.disabled = true;
      try {
        const r = await fetch('/kill', {
          method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': token },
          body: JSON.stringify({ enabled: enable, reason: enable ? 'resumed from the dashboard' : 'paused from the dashboard' }),
        });
        if (r.status === 401) { sessionStorage.removeItem(TOKEN_KEY); token = null; continue; }
        const body = await r.json();
        if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
        sessionStorage.setItem(TOKEN_KEY, token);
        setTrading(body.state.trading_enabled, body.state);
        return;
      } catch (err) {
        await ask({ title: 'Kill switch failed', text: `The Ops API did not apply it: ${err.message}`, input: false, okText: 'OK' });
        return;
      } finally {
        btn.disabled = false;
      }
    }
  }
  $('killBtn').addEventListener('click', () => { toggleTrading(); });

  // ---- start ----
  async function loadHistory() {
    const h = await getJson('/dashboard/history');
    if (isNum(h.baseline_equity)) eq.baseline = h.baseline_equity;
    for (const p of h.points || []) pushEquity(p.ts, p.equity);
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
