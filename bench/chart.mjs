// The benchmark's chart as a hand-written SVG (no plotting dependency):
// small multiples, one panel per workload, each with its own scale and the
// value written on every bar. Rows: requests/s at concurrency 32, requests/s
// at concurrency 1, and the p50 overhead over direct at concurrency 1 (ms).

/** Systems drawn, in order, with their colour and legend label. */
export const CHART_SYSTEMS = [
  { name: "passthrough", color: "#9e9e9e", label: "pass-through Worker (floor)" },
  { name: "switchyard", color: "#1565c0", label: "Switchyard" },
  { name: "switchyard-cache-hit", color: "#64b5f6", label: "Switchyard, cache hit" },
  { name: "switchyard-limits", color: "#0d47a1", label: "Switchyard, limiter + breaker" },
  { name: "portkey", color: "#ef6c00", label: "Portkey gateway (Node)" },
  { name: "litellm", color: "#c62828", label: "LiteLLM proxy" },
];

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A short number: 12.3k, 456, 7.8, 0.42. */
function short(n) {
  const a = Math.abs(n);
  if (a >= 10_000) return `${(n / 1000).toFixed(0)}k`;
  if (a >= 1000) return `${(n / 1000).toFixed(1)}k`;
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 × 10^k above `v`. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * One panel at (x, y) of size w × h: bars for `values` ([{ system, value }]),
 * negative values drawn below the zero line.
 */
function panel(x, y, w, h, title, subtitle, values, unit) {
  const out = [];
  const top = y + 38;
  const bottom = y + h - 8;
  const left = x + 8;
  const right = x + w - 8;
  out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="#fafafa" stroke="#e0e0e0"/>`);
  out.push(`<text x="${x + w / 2}" y="${y + 16}" text-anchor="middle" font-size="13" font-weight="600">${esc(title)}</text>`);
  if (subtitle) out.push(`<text x="${x + w / 2}" y="${y + 30}" text-anchor="middle" font-size="10.5" fill="#616161">${esc(subtitle)}</text>`);
  const present = values.filter((v) => Number.isFinite(v.value));
  if (!present.length) {
    out.push(`<text x="${x + w / 2}" y="${y + h / 2}" text-anchor="middle" font-size="11" fill="#9e9e9e">not measured</text>`);
    return out.join("\n");
  }
  const hi = niceMax(Math.max(0, ...present.map((v) => v.value)) * 1.12);
  const lo = Math.min(0, ...present.map((v) => v.value)) < 0 ? -niceMax(-Math.min(...present.map((v) => v.value)) * 1.12) : 0;
  const plotTop = top + 10;
  const yOf = (v) => plotTop + ((hi - v) / (hi - lo)) * (bottom - 16 - plotTop);
  const zero = yOf(0);
  out.push(`<line x1="${left}" x2="${right}" y1="${zero}" y2="${zero}" stroke="#757575" stroke-width="1"/>`);
  const slot = (right - left) / values.length;
  const barW = Math.min(34, slot * 0.72);
  values.forEach((v, i) => {
    if (!Number.isFinite(v.value)) return;
    const cx = left + slot * (i + 0.5);
    const y1 = yOf(Math.max(0, v.value));
    const y2 = yOf(Math.min(0, v.value));
    const color = CHART_SYSTEMS.find((s) => s.name === v.system)?.color ?? "#000";
    out.push(`<rect x="${(cx - barW / 2).toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, y2 - y1).toFixed(1)}" fill="${color}"><title>${esc(`${v.system}: ${v.value.toFixed(2)} ${unit}`)}</title></rect>`);
    const ly = v.value >= 0 ? y1 - 3 : y2 + 11;
    out.push(`<text x="${cx.toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="middle" font-size="10">${esc(short(v.value))}</text>`);
  });
  return out.join("\n");
}

/**
 * The SVG for `rows` (bench/run.mjs's result rows). `meta` gives the title's
 * second line (date, machine, method).
 */
export function chartSvg(rows, meta) {
  const find = (system, workload, concurrency, upstream) =>
    rows.find((r) => r.system === system && r.workload === workload && r.concurrency === concurrency && r.upstream === upstream);
  const cells = [];
  for (const upstream of ["0ms", "100ms"]) for (const workload of ["json", "stream"]) cells.push({ workload, upstream });
  const W = 290;
  const H = 200;
  const gap = 12;
  const margin = 16;
  const width = margin * 2 + cells.length * W + (cells.length - 1) * gap;
  const legendY = 58;
  const rowsY = legendY + 44;
  const rowTitles = [
    "Requests per second, 32 concurrent clients (higher is better)",
    "Requests per second, 1 client (higher is better)",
    "Added latency at 1 client: p50 minus direct p50, ms (lower is better)",
  ];
  const rowH = H + 30;
  const height = rowsY + rowTitles.length * rowH + 24;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${margin}" y="24" font-size="17" font-weight="700">Switchyard and peer gateways on 127.0.0.1, same mock provider</text>`);
  out.push(`<text x="${margin}" y="42" font-size="11" fill="#616161">${esc(meta)}</text>`);
  let lx = margin;
  for (const s of CHART_SYSTEMS) {
    out.push(`<rect x="${lx}" y="${legendY}" width="12" height="12" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 16}" y="${legendY + 10}" font-size="11.5">${esc(s.label)}</text>`);
    lx += 24 + s.label.length * 6.6;
  }
  rowTitles.forEach((title, r) => {
    const y = rowsY + r * rowH;
    out.push(`<text x="${margin}" y="${y + 14}" font-size="13" font-weight="600" fill="#212121">${esc(title)}</text>`);
    cells.forEach((c, i) => {
      const x = margin + i * (W + gap);
      const concurrency = r === 0 ? 32 : 1;
      const direct = find("direct", c.workload, concurrency, c.upstream);
      const label = `${c.workload === "json" ? "JSON" : "stream"} · upstream ${c.upstream.replace("ms", " ms")}`;
      let values;
      let subtitle;
      if (r < 2) {
        values = CHART_SYSTEMS.map((s) => ({ system: s.name, value: find(s.name, c.workload, concurrency, c.upstream)?.rps }));
        subtitle = direct ? `direct to the mock: ${short(direct.rps)} req/s` : "";
      } else {
        values = CHART_SYSTEMS.map((s) => ({ system: s.name, value: find(s.name, c.workload, 1, c.upstream)?.overhead_ms }));
        subtitle = direct ? `direct p50: ${direct.p50_ms.toFixed(2)} ms` : "";
      }
      out.push(panel(x, y + 22, W, H, label, subtitle, values, r < 2 ? "req/s" : "ms"));
    });
  });
  out.push(`<text x="${margin}" y="${height - 8}" font-size="10" fill="#757575">Generated by bench/run.mjs (make bench). Indicative: see bench/README.md for the method and the noise.</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
