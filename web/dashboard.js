// Live PnL dashboard: Server-Sent Events from /stream, falling back to polling the Ops API
// every dashboard_refresh_sec when the stream is unavailable.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
  const signed = (el, x) => { el.textContent = fmt(x); el.className = 'v ' + (x > 0 ? 'pos' : x < 0 ? 'neg' : ''); };
  const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  const times = [], equities = [];
  let peak = -Infinity, chart = null, tradingEnabled = null;

  function ensureChart() {
    if (chart || typeof uPlot === 'undefined') return;
    const el = $('equityChart');
    chart = new uPlot({ width: el.clientWidth || 800, height: 220, series: [{}, { label: 'Equity', stroke: '#58a6ff', width: 2 }], axes: [{ stroke: '#8a94a6' }, { stroke: '#8a94a6' }] }, [times, equities], el);
    window.addEventListener('resize', () => chart.setSize({ width: el.clientWidth, height: 220 }));
  }

  function onPortfolio(p) {
    $('equity').textContent = fmt(p.equity);
    $('cash').textContent = fmt(p.cash);
    signed($('gain'), p.gain);
    signed($('realized'), p.realized_pnl);
    signed($('unrealized'), p.unrealized_pnl);
    $('fees').textContent = fmt(p.fees);
    peak = Math.max(peak, p.equity);
    const dd = peak > 0 ? ((p.equity - peak) / peak) * 100 : 0;
    $('drawdown').textContent = fmt(dd) + '%';
    times.push(Date.now() / 1000);
    equities.push(p.equity);
    if (times.length > 3600) { times.shift(); equities.shift(); }
    ensureChart();
    if (chart) chart.setData([times, equities]);
    const rows = [];
    for (const v of Object.values(p.venues || {})) for (const pos of v.positions || []) {
      if (pos.qty === 0) continue;
      rows.push(`<tr><td>${esc(pos.symbol)}</td><td>${fmt(pos.qty, 5)}</td><td>${fmt(pos.avgPrice)}</td><td>${fmt(pos.lastPrice)}</td><td>${fmt(pos.marketValue)}</td><td class="${pos.unrealizedPnl >= 0 ? 'pos' : 'neg'}">${fmt(pos.unrealizedPnl)}</td></tr>`);
    }
    $('positions').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="6">flat</td></tr>';
  }

  function onTrading(enabled) {
    tradingEnabled = enabled;
    const b = $('trading');
    b.textContent = enabled ? 'TRADING' : 'PAUSED';
    b.className = 'badge ' + (enabled ? 'on' : 'off');
    $('killBtn').textContent = enabled ? 'Pause trading' : 'Resume trading';
  }

  async function getJson(path) { const r = await fetch(path); if (!r.ok) throw new Error(path + ' ' + r.status); return r.json(); }

  async function refreshSlow() {
    try {
      const [status, strat, orders] = await Promise.all([getJson('/status'), getJson('/strategy/status'), getJson('/orders/recent?limit=15')]);
      onTrading(status.state.trading_enabled);
      $('models').tBodies[0].innerHTML = strat.models.map((m) => {
        const row = strat.leaderboard.find((r) => r.model === m.id) || {};
        return `<tr><td>${esc(m.id)}</td><td>${esc(m.stage)}</td><td>${fmt(m.weight)}</td><td>${fmt(m.capital_quota_usd, 0)}</td><td class="${(row.pnl || 0) >= 0 ? 'pos' : 'neg'}">${fmt(row.pnl)}</td></tr>`;
      }).join('');
      $('orders').tBodies[0].innerHTML = orders.orders.map((o) => `<tr><td>${new Date(o.updated_at).toLocaleTimeString()}</td><td>${esc(o.model ?? 'manual')}</td><td>${esc(o.symbol)}</td><td>${esc(o.side)}</td><td>${esc(o.filled_qty)}/${esc(o.qty)}</td><td>${esc(o.avg_price ?? '–')}</td><td>${esc(o.status)}</td><td>${esc(o.reject_reason ?? '')}</td></tr>`).join('');
    } catch (e) { $('conn').textContent = 'error: ' + e.message; }
  }

  let pollTimer = null;
  function startPolling(sec) {
    if (pollTimer) return;
    pollTimer = setInterval(async () => { try { onPortfolio(await getJson('/aggregate/portfolio')); } catch {} refreshSlow(); }, sec * 1000);
  }

  function connect() {
    if (!window.EventSource) { startPolling(10); return; }
    const es = new EventSource('/stream');
    es.addEventListener('open', () => { $('conn').textContent = 'live'; });
    es.addEventListener('portfolio', (e) => onPortfolio(JSON.parse(e.data)));
    es.addEventListener('trading.state', (e) => onTrading(JSON.parse(e.data).tradingEnabled));
    es.addEventListener('order.update', () => scheduleSlow());
    es.addEventListener('error', () => { $('conn').textContent = 'stream lost: polling'; startPolling(10); });
  }

  let slowPending = false;
  function scheduleSlow() { if (slowPending) return; slowPending = true; setTimeout(() => { slowPending = false; refreshSlow(); }, 500); }

  $('killBtn').addEventListener('click', async () => {
    let token = sessionStorage.getItem('opsToken');
    if (!token) { token = prompt('Operator token (X-OPS-TOKEN, see .ops_token):'); if (!token) return; }
    const enabled = !tradingEnabled;
    const r = await fetch('/kill', { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': token }, body: JSON.stringify({ enabled }) });
    if (r.status === 401) { sessionStorage.removeItem('opsToken'); alert('Token refused'); return; }
    sessionStorage.setItem('opsToken', token);
    const body = await r.json();
    onTrading(body.state.trading_enabled);
  });

  refreshSlow();
  setInterval(refreshSlow, 5000);
  connect();
})();
