// The lps dashboard page: reads /api/* and the /api/feed event stream, and
// draws everything with plain DOM and canvas (no library, no build step).
(function () {
  'use strict';

  // A token given to the page (?token=) goes on to every API and feed call.
  const token = new URLSearchParams(location.search).get('token');
  function api(path) {
    if (!token) return path;
    return path + (path.indexOf('?') >= 0 ? '&' : '?') + 'token=' + encodeURIComponent(token);
  }
  const $ = (id) => document.getElementById(id);

  // Errors raised before the page body existed.
  if (window.__lpsErrors.length) window.__lpsError('(earlier errors above)');

  const MAX_POINTS = 3600;
  // What the page knows: the series, the latest state and summary.
  const points = [];
  let state = null;
  let summary = null;
  let finished = false;
  const C = {
    blue: '#4f9dff', green: '#3fcf8e', amber: '#f5a524', red: '#f25f5c',
    purple: '#a78bfa', teal: '#2dd4bf', grid: '#222a35', axis: '#8b96a5',
    faint: '#5c6775', text: '#e6edf3',
  };
  const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

  // ---------------------------------------------------------------- format
  const nf = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  function int(n) { return nf.format(n || 0); }
  function trim3(x) { return String(parseFloat(x.toPrecision(3))); }
  function compact(n) {
    n = n || 0;
    const a = Math.abs(n);
    if (a >= 1e9) return trim3(n / 1e9) + 'G';
    if (a >= 1e6) return trim3(n / 1e6) + 'M';
    if (a >= 1e3) return trim3(n / 1e3) + 'k';
    if (a >= 100) return nf.format(n);
    return trim3(n);
  }
  function rate(n) {
    n = n || 0;
    return n >= 100 ? int(n) : n.toFixed(1);
  }
  function us(v) {
    if (v == null || isNaN(v)) return '\u2013';
    if (v < 1000) return Math.round(v) + ' \u00b5s';
    if (v < 1e6) {
      const ms = v / 1000;
      return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
    }
    const s = v / 1e6;
    return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + ' s';
  }
  function usAxis(v) {
    if (v === 0) return '0';
    if (v < 1000) return trim3(v) + '\u00b5s';
    if (v < 1e6) return trim3(v / 1000) + 'ms';
    return trim3(v / 1e6) + 's';
  }
  function bytes(v) {
    v = v || 0;
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? Math.round(v) : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + ' ' + units[i];
  }
  function bytesAxis(v) {
    if (v === 0) return '0';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return trim3(v) + units[i];
  }
  function pct(r) {
    r = (r || 0) * 100;
    if (r === 0) return '0 %';
    return (r < 0.01 ? r.toFixed(3) : r < 10 ? r.toFixed(2) : r.toFixed(1)) + ' %';
  }
  function clock(s) {
    s = Math.max(0, Math.floor(s || 0));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const two = (n) => String(n).padStart(2, '0');
    return h ? h + ':' + two(m) + ':' + two(sec) : m + ':' + two(sec);
  }
  function seconds(s) {
    s = s || 0;
    return s < 60 ? s.toFixed(s < 10 ? 2 : 1) + ' s' : clock(s);
  }

  // A DOM element with attributes (class, title, ...) and children.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === 'class') node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c == null) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  // Requests answered with a status (latency is measured on those only).
  function responses(figures) {
    const failedBare = Object.values(figures.errors || {}).reduce((a, n) => a + n, 0);
    return ((figures.requests && figures.requests.total) || 0) - failedBare;
  }
  function badge(state) {
    const s = String(state || 'Idle');
    return el('span', { class: 'badge state-' + s.toLowerCase() }, el('i'), s);
  }

  // ---------------------------------------------------------------- charts
  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  }
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

  // One time-series chart on a canvas: a legend in the caption, values under
  // the cursor on hover, series drawn as lines (with an area when there is
  // one) or stacked areas.
  class Chart {
    constructor(id, cfg) {
      this.fig = $(id);
      this.plot = this.fig.querySelector('.plot');
      this.canvas = this.fig.querySelector('canvas');
      this.cfg = cfg;
      this.points = [];
      this.hover = -1;
      const legend = this.fig.querySelector('.legend');
      this.legendValues = cfg.series.map((s) => {
        const value = el('b', null, '\u2013');
        legend.append(el('span', { class: 'key' }, swatch(s.color), s.label + ' ', value));
        return value;
      });
      this.tip = el('div', { class: 'tooltip' });
      this.tip.hidden = true;
      this.plot.append(this.tip);
      this.canvas.addEventListener('mousemove', (e) => this.move(e));
      this.canvas.addEventListener('mouseleave', () => {
        this.hover = -1;
        this.tip.hidden = true;
        this.draw();
      });
    }

    set(points) {
      this.points = points;
      this.draw();
    }

    // Plot area and scales for the current size and data.
    frame() {
      const w = this.plot.clientWidth, h = this.plot.clientHeight;
      const pts = this.points, cfg = this.cfg;
      const values = cfg.series.map((s) => pts.map((p) => Math.max(0, +s.get(p) || 0)));
      let tops = values;
      if (cfg.stacked) {
        tops = [];
        values.forEach((v, i) => tops.push(v.map((x, j) => x + (i ? tops[i - 1][j] : 0))));
      }
      let max = 0;
      for (const t of tops) for (const v of t) if (v > max) max = v;
      const step = niceStep((max || cfg.floor || 1) / 4);
      const ymax = Math.max(step, Math.ceil((max || cfg.floor || 1) / step) * step);
      // While running the time axis shows at least 10 s; once over, the run.
      const last = pts.length ? pts[pts.length - 1].t : 0;
      const tmax = finished && last > 0 ? last : Math.max(10, last);
      const L = 54, R = 12, T = 8, B = 22;
      const pw = Math.max(1, w - L - R), ph = Math.max(1, h - T - B);
      return {
        w, h, L, R, T, B, pw, ph, step, ymax, tmax, values, tops,
        x: (t) => L + (t / tmax) * pw,
        y: (v) => T + ph - (v / ymax) * ph,
      };
    }

    draw() {
      const f = this.frame();
      if (!f.w || !f.h) return;
      const dpr = window.devicePixelRatio || 1;
      const cw = Math.round(f.w * dpr), ch = Math.round(f.h * dpr);
      if (this.canvas.width !== cw || this.canvas.height !== ch) {
        this.canvas.width = cw;
        this.canvas.height = ch;
      }
      const ctx = this.canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, f.w, f.h);
      ctx.font = FONT;
      ctx.lineWidth = 1;

      // Horizontal grid and value axis.
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (let v = 0; v <= f.ymax + f.step / 1e6; v += f.step) {
        const yy = Math.round(f.y(v)) + 0.5;
        ctx.strokeStyle = C.grid;
        ctx.beginPath();
        ctx.moveTo(f.L, yy);
        ctx.lineTo(f.w - f.R, yy);
        ctx.stroke();
        ctx.fillStyle = C.axis;
        ctx.fillText(this.cfg.axis(v), f.L - 8, yy);
      }
      // Time axis.
      const step = TIME_STEPS.find((s) => (f.tmax / s) * 64 <= f.pw) || 7200;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      for (let t = 0; t <= f.tmax + 1e-9; t += step) {
        const xx = Math.round(f.x(t)) + 0.5;
        ctx.strokeStyle = C.grid;
        ctx.beginPath();
        ctx.moveTo(xx, f.T + f.ph);
        ctx.lineTo(xx, f.T + f.ph + 4);
        ctx.stroke();
        ctx.fillStyle = C.axis;
        ctx.fillText(clock(t), xx, f.T + f.ph + 6);
      }

      const pts = this.points;
      if (!pts.length) {
        ctx.fillStyle = C.faint;
        ctx.textAlign = 'center';
        ctx.textBaseline = 'middle';
        ctx.font = '12px system-ui, sans-serif';
        ctx.fillText('waiting for data\u2026', f.L + f.pw / 2, f.T + f.ph / 2);
        this.legend(-1);
        return;
      }

      ctx.save();
      ctx.beginPath();
      ctx.rect(f.L, f.T - 2, f.pw + 2, f.ph + 3);
      ctx.clip();
      const base = f.y(0);
      const series = this.cfg.series;
      const single = series.length === 1;
      series.forEach((s, i) => {
        // A stacked series that never happened would only redraw the top.
        if (this.cfg.stacked && !f.values[i].some((v) => v > 0)) return;
        const top = f.tops[i];
        const below = this.cfg.stacked && i ? f.tops[i - 1] : null;
        // Area.
        if (this.cfg.stacked || single) {
          ctx.beginPath();
          pts.forEach((p, j) => (j ? ctx.lineTo(f.x(p.t), f.y(top[j])) : ctx.moveTo(f.x(p.t), f.y(top[j]))));
          for (let j = pts.length - 1; j >= 0; j--) ctx.lineTo(f.x(pts[j].t), below ? f.y(below[j]) : base);
          ctx.closePath();
          if (this.cfg.stacked) {
            ctx.fillStyle = alpha(s.color, 0.32);
          } else {
            const g = ctx.createLinearGradient(0, f.T, 0, base);
            g.addColorStop(0, alpha(s.color, 0.35));
            g.addColorStop(1, alpha(s.color, 0.02));
            ctx.fillStyle = g;
          }
          ctx.fill();
        }
        // Line.
        ctx.beginPath();
        pts.forEach((p, j) => (j ? ctx.lineTo(f.x(p.t), f.y(top[j])) : ctx.moveTo(f.x(p.t), f.y(top[j]))));
        ctx.strokeStyle = s.color;
        ctx.lineWidth = 1.7;
        ctx.lineJoin = 'round';
        ctx.stroke();
        if (pts.length === 1) {
          ctx.fillStyle = s.color;
          ctx.beginPath();
          ctx.arc(f.x(pts[0].t), f.y(top[0]), 2.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      });
      ctx.restore();

      // Cursor.
      const k = this.hover >= 0 && this.hover < pts.length ? this.hover : -1;
      if (k >= 0) {
        const xx = Math.round(f.x(pts[k].t)) + 0.5;
        ctx.strokeStyle = 'rgba(230,237,243,.35)';
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(xx, f.T);
        ctx.lineTo(xx, f.T + f.ph);
        ctx.stroke();
        series.forEach((s, i) => {
          ctx.fillStyle = s.color;
          ctx.beginPath();
          ctx.arc(xx, f.y(f.tops[i][k]), 3, 0, 2 * Math.PI);
          ctx.fill();
        });
        this.tip.hidden = false;
        this.tip.textContent = clock(pts[k].t) + '  \u00b7  ' +
          series.map((s, i) => s.label + ' ' + this.cfg.fmt(f.values[i][k])).join('  ');
        const left = Math.min(Math.max(0, xx + 10), f.w - this.tip.offsetWidth - 2);
        this.tip.style.left = left + 'px';
        this.tip.style.top = '4px';
      }
      this.legend(k >= 0 ? k : pts.length - 1, f.values);
    }

    legend(k, values) {
      this.legendValues.forEach((b, i) => {
        b.textContent = k >= 0 && values ? this.cfg.fmt(values[i][k]) : '\u2013';
      });
    }

    move(e) {
      const pts = this.points;
      if (!pts.length) return;
      const f = this.frame();
      const rect = this.canvas.getBoundingClientRect();
      const t = ((e.clientX - rect.left - f.L) / f.pw) * f.tmax;
      let lo = 0, hi = pts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pts[mid].t < t) lo = mid + 1; else hi = mid;
      }
      if (lo > 0 && Math.abs(pts[lo - 1].t - t) < Math.abs(pts[lo].t - t)) lo--;
      if (lo !== this.hover) {
        this.hover = lo;
        this.draw();
      }
    }
  }

  function swatch(color) {
    const i = el('i');
    i.style.background = color;
    return i;
  }
  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }

  const charts = [
    new Chart('c-rps', {
      series: [{ label: 'req/s', color: C.blue, get: (p) => p.rps }],
      axis: compact, fmt: compact,
    }),
    new Chart('c-latency', {
      series: [
        { label: 'p50', color: C.green, get: (p) => p.p50_us },
        { label: 'p90', color: C.amber, get: (p) => p.p90_us },
        { label: 'p99', color: C.red, get: (p) => p.p99_us },
      ],
      // A second without a response has no latency (its percentiles are 0).
      axis: usAxis, fmt: (v) => (v > 0 ? us(v) : '\u2013'), floor: 1000,
    }),
    new Chart('c-status', {
      series: [
        { label: '2xx', color: C.green, get: (p) => p.status_2xx },
        { label: '3xx', color: C.teal, get: (p) => p.status_3xx },
        { label: '4xx', color: C.amber, get: (p) => p.status_4xx },
        { label: '5xx', color: C.red, get: (p) => p.status_5xx },
        { label: 'no response', color: C.purple, get: (p) => p.errors - p.status_4xx - p.status_5xx },
      ],
      stacked: true, axis: compact, fmt: compact,
    }),
    new Chart('c-inflight', {
      series: [{ label: 'in flight', color: C.purple, get: (p) => p.in_flight }],
      axis: compact, fmt: int,
    }),
    new Chart('c-bytes', {
      series: [
        { label: 'in', color: C.teal, get: (p) => p.bytes_in_per_s },
        { label: 'out', color: C.blue, get: (p) => p.bytes_out_per_s },
      ],
      axis: bytesAxis, fmt: (v) => bytes(v) + '/s',
    }),
  ];

  // ----------------------------------------------------------------- model
  // Points come from the feed (live) and from /api/series (history, and the
  // gaps after a reconnect), in any order: each goes to its place in time,
  // once. A live point that arrives before the history answer must not hide
  // the history that comes after it.
  function addPoint(p) {
    if (!p || typeof p.t !== 'number') return false;
    let i = points.length;
    if (i && p.t <= points[i - 1].t) {
      let lo = 0, hi = i;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (points[mid].t < p.t) lo = mid + 1; else hi = mid;
      }
      if (points[lo].t === p.t) return false;
      i = lo;
    }
    points.splice(i, 0, p);
    if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
    return true;
  }
  function drawCharts() {
    for (const c of charts) c.set(points);
    document.body.dataset.points = String(points.length);
    document.body.dataset.first = points.length ? String(points[0].t) : '';
    document.body.dataset.last = points.length ? String(points[points.length - 1].t) : '';
  }

  function renderState(s) {
    state = Object.assign(state || {}, s);
    const st = state.state || 'Idle';
    if (state.test != null) {
      $('test-name').textContent = state.test;
      document.title = state.test + ' \u00b7 lps';
    }
    $('state').replaceWith(Object.assign(badge(st), { id: 'state' }));
    document.body.dataset.state = st;
    if (state.elapsed_s != null) $('elapsed').textContent = clock(state.elapsed_s);
    const wasFinished = finished;
    finished = !!state.finished;
    document.body.dataset.finished = String(finished);
    // The time axis shrinks to the run once it is over; "none yet" becomes
    // "none".
    if (finished !== wasFinished) {
      drawCharts();
      if (summary) renderSummary(summary);
    }
    if (state.requests) {
      const r = state.requests;
      $('k-requests').textContent = int(r.total);
      $('k-requests-sub').textContent = int(r.ok) + ' ok \u00b7 ' + int(r.failed) + ' failed';
      $('k-errors').textContent = int(r.failed);
      $('k-errors').classList.toggle('bad', r.failed > 0);
      $('k-error-rate').textContent = pct(state.error_rate);
      $('k-error-rate').classList.toggle('bad', state.error_rate > 0);
      const avg = state.elapsed_s > 0 ? r.total / state.elapsed_s : 0;
      if (finished && summary) {
        $('k-rps').textContent = rate(summary.throughput_rps);
        $('k-rps-sub').textContent = 'average over the run';
      } else {
        $('k-rps').textContent = rate(state.rps);
        $('k-rps-sub').textContent = 'last second \u00b7 avg ' + rate(avg);
      }
    }
    if (state.in_flight != null) $('k-inflight').textContent = int(state.in_flight);
    renderLatencyKpi();
    renderDownloads();
    renderMeta();
  }

  function renderLatencyKpi() {
    if (finished && summary && summary.latency_us && responses(summary) > 0) {
      $('k-p99').textContent = us(summary.latency_us.p99);
      $('k-p99-sub').textContent = 'whole run \u00b7 p50 ' + us(summary.latency_us.p50);
    } else if (points.length) {
      const p = points[points.length - 1];
      // A second without a response has no latency (its percentiles are 0).
      const has = p.p50_us > 0;
      $('k-p99').textContent = has ? us(p.p99_us) : '\u2013';
      $('k-p99-sub').textContent = 'last second \u00b7 p50 ' + (has ? us(p.p50_us) : '\u2013');
    }
  }

  function renderMeta() {
    const parts = [];
    const model = (summary && summary.model) || (state && state.model);
    const rateRps = (summary && summary.rate_rps) || (state && state.rate_rps);
    if (model) parts.push(model === 'open' ? 'open model at ' + int(rateRps) + ' req/s' : 'closed model');
    if (summary) {
      parts.push(int(summary.clients) + (summary.clients === 1 ? ' client' : ' clients'));
      const n = (summary.iterations || []).length;
      parts.push(n + (n === 1 ? ' iteration' : ' iterations'));
      if (summary.started_at && state && state.state !== 'Idle') {
        parts.push('started ' + new Date(summary.started_at).toLocaleString());
      }
    }
    if (parts.length) $('meta').textContent = parts.join(' \u00b7 ');
  }

  function renderDownloads() {
    for (const id of ['dl-report', 'dl-histogram']) {
      const a = $(id);
      a.classList.toggle('disabled', !finished);
      a.setAttribute('aria-disabled', String(!finished));
      a.title = finished ? '' : 'available when the run is over';
    }
    $('report-title').textContent = finished ? 'Final report' : 'Run so far';
  }

  function renderNodes(nodes) {
    const body = $('nodes').tBodies[0];
    // The master first, then by id: rows keep their place between updates.
    nodes = nodes.slice().sort((a, b) =>
      (a.role === 'master' ? 0 : 1) - (b.role === 'master' ? 0 : 1) || String(a.id).localeCompare(String(b.id)));
    const rows = nodes.map((n) => {
      const lost = n.state === 'Lost';
      const done = n.state === 'Finished' || n.state === 'Completed' || n.state === 'Cancelled' || lost;
      const hb = n.role === 'master' ? 'this node' : n.last_heartbeat_s.toFixed(1) + ' s ago';
      return el('tr', { class: lost ? 'lost' : null },
        el('td', { class: 'id' }, n.id),
        el('td', null, n.host),
        el('td', null, el('span', { class: 'tag' }, n.role)),
        el('td', null, badge(n.state)),
        el('td', { class: 'num' }, n.cores),
        el('td', { class: 'num' }, int(n.requests)),
        el('td', { class: 'num' }, rate(n.rps)),
        el('td', { class: 'num' }, n.requests ? us(n.p99_us) : '\u2013'),
        el('td', { class: 'num' + (n.errors > 0 ? ' bad' : '') }, int(n.errors)),
        el('td', { class: 'num' + (!done && n.role !== 'master' && n.last_heartbeat_s > 2.5 ? ' stale' : '') }, hb));
    });
    if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 10 }, 'No node yet')));
    body.replaceChildren(...rows);
    $('nodes-count').textContent = String(nodes.length);
    document.body.dataset.nodes = String(nodes.length);
  }

  // A rule's state: a failure rule on the data so far (its verdict once
  // the run is over), a termination rule with its breach and whether it
  // ended its iteration.
  function ruleState(rule) {
    if (rule.kind === 'termination') {
      if (rule.terminated_at_s != null) return ['bad', 'terminated at ' + seconds(rule.terminated_at_s)];
      if (rule.breaching_s != null) {
        return ['warn', 'breaching ' + rule.breaching_s.toFixed(1) + ' of ' + rule.grace_s + ' s'];
      }
      return ['ok', 'ok'];
    }
    if (rule.failed) return ['bad', finished ? 'failed' : 'failing'];
    return ['ok', finished ? 'passed' : 'passing'];
  }

  function renderRules(rules) {
    $('rules-panel').hidden = rules.length === 0;
    $('rules-count').textContent = String(rules.length);
    $('rules').tBodies[0].replaceChildren(...rules.map((rule) => {
      const [kind, text] = ruleState(rule);
      const seen = rule.evaluated != null ? rule.evaluated
        : rule.observed != null ? trim3(rule.observed) : '\u2013';
      return el('tr', null,
        el('td', null, el('span', { class: 'rule rule-' + kind }, text)),
        el('td', null, el('span', { class: 'tag' }, rule.kind)),
        el('td', null, rule.round + ' / ' + rule.iteration),
        el('td', { class: 'id' }, rule.rule),
        el('td', { class: 'num' }, seen));
    }));
  }

  function renderSummary(r) {
    summary = r;
    renderRules(r.rules || []);
    const iterations = r.iterations || [];
    const body = $('iterations').tBodies[0];
    const rows = iterations.map((it) => {
      const l = it.latency_us || {};
      const has = responses(it) > 0;
      return el('tr', null,
        el('td', { class: 'id' }, it.name),
        el('td', null, it.round),
        el('td', null, el('span', { class: 'tag' }, it.mode)),
        el('td', { class: 'url', title: it.method + ' ' + it.url + ' (HTTP/' + it.http_version + ')' },
          el('span', { class: 'method' }, it.method), it.url),
        el('td', { class: 'num' }, int(it.requests.total)),
        el('td', { class: 'num' + (it.requests.failed > 0 ? ' bad' : '') }, int(it.requests.failed)),
        el('td', { class: 'num' }, rate(it.throughput_rps)),
        el('td', { class: 'num' }, has ? us(l.p50) : '\u2013'),
        el('td', { class: 'num' }, has ? us(l.p90) : '\u2013'),
        el('td', { class: 'num' }, has ? us(l.p99) : '\u2013'),
        el('td', { class: 'num' }, has ? us(l.max) : '\u2013'));
    });
    if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 11 }, 'No iteration')));
    body.replaceChildren(...rows);
    $('iterations-count').textContent = String(iterations.length);

    const l = r.latency_us || {};
    const has = responses(r) > 0;
    $('r-latency').replaceChildren(...[
      ['min', l.min], ['mean', l.mean], ['p50', l.p50], ['p90', l.p90],
      ['p99', l.p99], ['p99.9', l.p999], ['max', l.max],
    ].map(([k, v]) => el('div', null, el('span', null, k), el('b', null, has ? us(v) : '\u2013'))));

    const codes = Object.entries(r.status_codes || {});
    $('r-status').replaceChildren(...(codes.length
      ? codes.map(([code, n]) => el('span', { class: 'chip c' + code.charAt(0) }, el('b', null, code), int(n)))
      : [el('span', { class: 'none' }, finished ? 'none' : 'none yet')]));
    const errors = Object.entries(r.errors || {}).filter(([, n]) => n > 0);
    $('r-errors').replaceChildren(...(errors.length
      ? errors.map(([kind, n]) => el('span', { class: 'chip err' }, el('b', null, kind), int(n)))
      : [el('span', { class: 'none' }, 'none')]));

    const facts = [
      ['Started', r.started_at ? new Date(r.started_at).toLocaleString() : '\u2013'],
      ['Duration', seconds(r.duration_s)],
      ['Requests', int(r.requests.total) + ' (' + int(r.requests.ok) + ' ok, ' + int(r.requests.failed) + ' failed)'],
      ['Throughput', rate(r.throughput_rps) + ' req/s'],
      ['Sent', bytes(r.bytes.sent)],
      ['Received', bytes(r.bytes.received)],
      ['Clients', int(r.clients) + ' \u00b7 ' + int(r.threads) + (r.threads === 1 ? ' thread' : ' threads')],
      ['Model', r.model === 'open' ? 'open, ' + int(r.rate_rps) + ' req/s' : 'closed'],
    ];
    if (r.send_lag_us && has) {
      // Open model: how late lps itself sent the requests (in the latencies too).
      facts.push(['Send lag', 'p50 ' + us(r.send_lag_us.p50) + ' \u00b7 p99 ' + us(r.send_lag_us.p99)]);
    }
    if (r.requests.unfinished > 0) facts.push(['Unfinished', int(r.requests.unfinished)]);
    if (r.nodes) facts.push(['Nodes', String(r.nodes.length)]);
    if (r.interrupted) facts.push(['Interrupted', 'yes']);
    (r.warnings || []).forEach((w) => facts.push(['Warning', w]));
    $('r-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', null, k), el('dd', { title: v }, v)]));
    renderLatencyKpi();
    renderMeta();
    if (state) renderState({});
  }

  // ----------------------------------------------------------- report file
  // `lps --html` writes this page with the run's final data in a JSON block:
  // the page then draws that, and asks no API and opens no feed.
  function embeddedReport() {
    const block = document.getElementById('lps-report');
    return block ? JSON.parse(block.textContent) : null;
  }
  function showReport(data) {
    document.body.classList.add('report-file');
    setConn('file', 'report file');
    for (const p of data.series || []) addPoint(p);
    renderSummary(data.summary);
    renderState(data.state);
    renderNodes(data.nodes || []);
    drawCharts();
    $('link-metrics').parentNode.replaceChildren('lps \u00b7 report file');
    // What the browser test waits for: everything above is drawn.
    document.body.dataset.report = 'drawn';
  }

  // ------------------------------------------------------------------ feed
  function handle(item) {
    switch (item.type) {
      case 'point':
        if (addPoint(item.point)) {
          drawCharts();
          renderLatencyKpi();
        }
        break;
      case 'state': {
        const s = Object.assign({}, item);
        delete s.type;
        renderState(s);
        // A change of state alone carries only the state: fetch the rest now
        // rather than wait for the next periodic items.
        if (!('requests' in s)) refresh();
        break;
      }
      case 'nodes':
        renderNodes(item.nodes || []);
        break;
      case 'summary':
        renderSummary(item.summary);
        break;
      default:
        break;
    }
  }

  function setConn(kind, text) {
    const c = $('conn');
    c.className = 'conn ' + kind;
    c.textContent = text;
  }

  function getJson(path) {
    return fetch(api(path), { cache: 'no-store' }).then((r) => {
      if (r.status === 401) throw new Error('unauthorized');
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  // The series up to here came from /api/series, whole: a backfill asks for
  // what follows (points from the feed alone may have gaps: a reader that
  // falls behind skips items).
  let synced = -1;
  // The history, then the points missed while the feed was away.
  function backfill() {
    return getJson('/api/series?since=' + synced).then((list) => {
      let added = false;
      for (const p of list) {
        added = addPoint(p) || added;
        if (p.t > synced) synced = p.t;
      }
      if (added) {
        drawCharts();
        renderLatencyKpi();
      }
    }).catch(() => {});
  }

  let feed = null;
  function connect() {
    feed = new EventSource(api('/api/feed'));
    feed.onopen = () => {
      setConn('live', 'live');
      backfill();
    };
    feed.onmessage = (e) => {
      let item;
      try {
        item = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      handle(item);
    };
    feed.onerror = () => {
      if (feed.readyState === EventSource.CLOSED) {
        // The server refused the stream (a token?) or went away for good:
        // try again later; the page keeps what it shows.
        setConn('down', 'offline');
        feed.close();
        setTimeout(connect, 5000);
      } else {
        setConn('down', finished ? 'offline \u00b7 final report kept' : 'reconnecting\u2026');
      }
    };
  }

  // Links carry the token as well.
  for (const id of ['dl-summary', 'dl-report', 'dl-histogram', 'link-metrics', 'link-api']) {
    const a = $(id);
    a.setAttribute('href', api(a.getAttribute('href')));
  }

  // Everything but the feed, from the API.
  function refresh() {
    getJson('/api/state').then(renderState).catch((e) => {
      if (e.message === 'unauthorized') setConn('down', 'token required (?token=)');
    });
    getJson('/api/summary').then(renderSummary).catch(() => {});
    getJson('/api/nodes').then(renderNodes).catch(() => {});
    backfill();
  }

  // First paint from the API, then the feed keeps everything current; a
  // report file has everything inside.
  drawCharts();
  const report = embeddedReport();
  if (report) {
    showReport(report);
  } else {
    refresh();
    connect();
  }

  let resizeFrame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(drawCharts);
  }).observe(document.querySelector('.charts'));
})();
