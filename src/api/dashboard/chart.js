// The chart around a switch: error rate, p99 latency and quality per bucket, with the incident's moments marked.
import uPlot from '/ui/vendor/uplot/uPlot.esm.js';
import { millis, percent } from './format.js';

const COLORS = { error: '#d03b3b', p99: '#2f6fdf', quality: '#1f9d55', marker: '#555' };

/** Vertical lines with labels at each marker ({ at: ms, label }). */
function markersPlugin(markers) {
  return {
    hooks: {
      draw: (u) => {
        const { ctx, bbox } = u;
        ctx.save();
        ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
        ctx.textBaseline = 'top';
        markers.forEach((m, i) => {
          const x = Math.round(u.valToPos(m.at / 1000, 'x', true));
          if (x < bbox.left || x > bbox.left + bbox.width) return;
          ctx.strokeStyle = COLORS.marker;
          ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
          ctx.lineWidth = devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          // Labels stack (moments seconds apart share a pixel) and turn left near the right edge.
          const right = x + ctx.measureText(m.label).width + 8 * devicePixelRatio > bbox.left + bbox.width;
          const w = ctx.measureText(m.label).width;
          const tx = right ? x - 4 * devicePixelRatio - w : x + 4 * devicePixelRatio;
          const ty = bbox.top + (4 + 15 * i) * devicePixelRatio;
          ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
          ctx.fillRect(tx - 2 * devicePixelRatio, ty - devicePixelRatio, w + 4 * devicePixelRatio, 14 * devicePixelRatio);
          ctx.fillStyle = COLORS.marker;
          ctx.fillText(m.label, tx, ty);
        });
        ctx.restore();
      },
    },
  };
}

/**
 * Draws `series` (GET …/metrics/series) into `el`; returns the uPlot instance (destroy() it before drawing again).
 * Empty buckets are gaps: no traffic is not zero errors.
 */
export function drawChart(el, series, markers) {
  const xs = series.points.map((p) => Date.parse(p.at) / 1000 + series.step_s / 2);
  const err = series.points.map((p) => (p.error_rate === null ? null : p.error_rate * 100));
  const p99 = series.points.map((p) => p.latency_p99_ms);
  const quality = series.points.map((p) => (p.quality_mean === null ? null : p.quality_mean * 100));
  const width = Math.max(320, el.clientWidth || 800);
  const opts = {
    width,
    height: 300,
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      pct: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil((max ?? 0) * 1.2))] },
      ms: {},
      q: { range: [0, 100] },
    },
    series: [
      {},
      {
        label: 'error rate',
        scale: 'pct',
        stroke: COLORS.error,
        width: 2,
        points: { show: true, size: 4 },
        value: (_u, v) => (v === null ? '—' : percent(v / 100)),
      },
      { label: 'p99 latency', scale: 'ms', stroke: COLORS.p99, width: 2, points: { show: true, size: 4 }, value: (_u, v) => millis(v) },
      {
        label: 'quality',
        scale: 'q',
        stroke: COLORS.quality,
        width: 2,
        points: { show: true, size: 4 },
        value: (_u, v) => (v === null ? '—' : `${v.toFixed(0)} %`),
      },
    ],
    axes: [
      {},
      { scale: 'pct', label: 'error rate', values: (_u, vals) => vals.map((v) => `${v} %`), stroke: COLORS.error },
      {
        scale: 'ms',
        side: 1,
        label: 'p99 latency',
        size: 80,
        values: (_u, vals) => vals.map((v) => millis(v)),
        grid: { show: false },
        stroke: COLORS.p99,
      },
      {
        scale: 'q',
        side: 1,
        label: 'quality',
        size: 70,
        values: (_u, vals) => vals.map((v) => `${v} %`),
        grid: { show: false },
        stroke: COLORS.quality,
      },
    ],
    plugins: [markersPlugin(markers)],
  };
  return new uPlot(opts, [xs, err, p99, quality], el);
}
