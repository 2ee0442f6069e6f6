// Charts people can read, for the dashboard and the client report: uPlot (vendored, MIT, served
// by the gateway at /vendor/uplot.js) with a time axis in Paris time, a labelled value axis, a
// legend and a tooltip that follows the cursor. uPlot is loaded the first time a page draws a
// chart, so the fleet page never downloads it.

const ZONE = 'Europe/Paris';
let loading = null;

/** uPlot, loaded once (script and style sheet). */
export function uplot() {
  loading ??= new Promise((resolve, reject) => {
    const style = document.createElement('link');
    style.rel = 'stylesheet'; style.href = '/vendor/uplot.css';
    const script = document.createElement('script');
    script.src = '/vendor/uplot.js';
    script.onload = () => resolve(window.uPlot);
    script.onerror = () => { loading = null; reject(new Error('uPlot could not be loaded')); };
    document.head.append(style, script);
  });
  return loading;
}

const formats = new Map();
function format(lang, options) {
  const key = lang + JSON.stringify(options);
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { timeZone: ZONE, ...options }));
  return formats.get(key);
}

/** Time ticks: the hour within a day or two, the day and hour within a week, else the day. */
function timeTicks(lang) {
  return (u, splits) => {
    const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
    const options = span <= 900 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
      : span <= 36 * 3600 ? { hour: '2-digit', minute: '2-digit' }
      : span <= 8 * 86400 ? { weekday: 'short', hour: '2-digit' }
        : { day: '2-digit', month: '2-digit' };
    return splits.map((s) => format(lang, options).format(new Date(s * 1000)));
  };
}

/** The tooltip: the moment under the cursor and each series' value there. */
function tooltip(spec) {
  let tip;
  const full = (s) => format(spec.lang, { weekday: 'short', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit' }).format(new Date(s * 1000));
  return {
    hooks: {
      init: (u) => {
        tip = document.createElement('div');
        tip.className = 'chart-tip'; tip.hidden = true; tip.setAttribute('role', 'tooltip');
        u.over.append(tip);
        u.over.addEventListener('mouseleave', () => { tip.hidden = true; });
      },
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
        // A bucket (an hour) is drawn at its middle and told from its start to its end.
        const start = u.data[0][i] - (spec.bucket ?? 0) / 2;
        const rows = [full(start) + (spec.bucket ? ` – ${format(spec.lang, { hour: '2-digit', minute: '2-digit' }).format(new Date((start + spec.bucket) * 1000))}` : '')];
        spec.series.forEach((s, k) => {
          const v = u.data[k + 1][i];
          if (v !== null && v !== undefined) rows.push(`${s.label} : ${spec.value ? spec.value(v) : v}`);
        });
        tip.replaceChildren(...rows.map((text, k) => { const line = document.createElement(k ? 'div' : 'b'); line.textContent = text; return line; }));
        tip.hidden = false;
        const left = Math.min(u.cursor.left + 12, u.over.clientWidth - tip.offsetWidth - 4);
        tip.style.left = `${Math.max(0, left)}px`;
        tip.style.top = `${Math.max(0, u.cursor.top - tip.offsetHeight - 8)}px`;
      },
    },
  };
}

/**
 * A chart, drawn once the element is on the page (and redrawn to its width).
 * spec: { x: [unix seconds], series: [{ label, color, values, kind: 'bars'|'line'|'steps' }],
 *         yLabel, xLabel, lang, height?, yMax?, value? (v → text),
 *         bucket? (seconds each x stands for from its value on: drawn at its middle) }
 */
export function chart(spec) {
  const box = document.createElement('div');
  box.className = 'chart-box';
  box.dataset.chart = spec.series.map((s) => s.label).join(' · ');
  let plot = null;
  const observer = new ResizeObserver(async () => {
    const width = box.clientWidth;
    if (width === 0) return;
    if (plot) { plot.setSize({ width, height: spec.height ?? 220 }); return; }
    plot = 'drawing';
    let uPlot;
    try { uPlot = await uplot(); } catch (err) { box.textContent = err.message; return; }
    const bars = uPlot.paths.bars({ size: [0.8, Infinity], align: 0 });
    const half = (spec.bucket ?? 0) / 2;
    const steps = uPlot.paths.stepped({ align: 1 });
    const ink = getComputedStyle(box).color || '#1d1d1f';
    const axis = { stroke: ink, grid: { stroke: 'rgba(127,127,127,.2)' }, ticks: { stroke: 'rgba(127,127,127,.35)' } };
    plot = new uPlot({
      width: box.clientWidth,
      height: spec.height ?? 220,
      tzDate: (s) => uPlot.tzDate(new Date(s * 1000), ZONE),
      legend: { live: false },
      cursor: { points: { size: 7 } },
      plugins: [tooltip(spec)],
      scales: {
        x: { time: true, range: (u, min, max) => [min - half, Math.max(max + half, min + 60)] },
        y: { range: (u, min, max) => [0, Math.max(spec.yMax ?? 0, (max || 0) * 1.1, 1)] },
      },
      axes: [
        { ...axis, label: spec.xLabel, values: timeTicks(spec.lang), space: 60 },
        { ...axis, label: spec.yLabel, size: 56, values: (u, splits) => splits.map((v) => (spec.value ? spec.value(v) : String(v))) },
      ],
      series: [{}, ...spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: s.kind === 'bars' ? `${s.color}cc` : s.kind === 'steps' ? `${s.color}22` : undefined,
        paths: s.kind === 'bars' ? bars : s.kind === 'steps' ? steps : undefined,
        points: { show: s.kind === 'line' },
        spanGaps: s.kind !== 'bars',
      }))],
    }, [half ? spec.x.map((s) => s + half) : spec.x, ...spec.series.map((s) => s.values)], box);
    box.dataset.chartReady = String(spec.x.length);
  });
  observer.observe(box);
  return box;
}

/**
 * Hourly buckets [{hour, totals}] as chart columns, every hour of the span present (zeros where
 * nothing happened), so that the lines do not skip the quiet hours.
 */
export function hourly(buckets) {
  if (buckets.length === 0) return { x: [], at: () => null };
  const first = Date.parse(buckets[0].hour) / 1000, last = Date.parse(buckets[buckets.length - 1].hour) / 1000;
  const x = [];
  for (let s = first; s <= last; s += 3600) x.push(s);
  const byHour = new Map(buckets.map((b) => [Date.parse(b.hour) / 1000, b.totals]));
  return { x, at: (key) => x.map((s) => byHour.get(s)?.[key] ?? 0) };
}

/**
 * Levels that hold until the next change (paper), several series on one time axis: each
 * series' value at each moment is its last level at or before it (nothing before its first).
 * `series` is [[{at: Date-ish, value}], …], oldest first; `until` extends the last level.
 */
export function levels(series, until) {
  const times = series.flatMap((points) => points.map((p) => Date.parse(p.at) / 1000));
  if (until && times.length) times.push(Math.max(...times, Date.parse(until) / 1000));
  const x = [...new Set(times)].sort((a, b) => a - b);
  const columns = series.map((points) => {
    let k = -1;
    return x.map((s) => {
      while (k + 1 < points.length && Date.parse(points[k + 1].at) / 1000 <= s) k += 1;
      return k >= 0 ? points[k].value : null;
    });
  });
  return { x, columns };
}
