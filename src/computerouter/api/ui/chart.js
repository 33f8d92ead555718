// A stacked bar chart in inline SVG: one bar per time bucket, one colour per series.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2f6fdf", "#1e8e3e", "#b7791f", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"];

function svgElement(name, attrs) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// buckets: sorted bucket starts (epoch s); series: [{name, values: Map(start -> amount)}].
// Draws into container (replacing what was there) and returns the colour of each series.
function drawStackedBars(container, buckets, series, formatAmount, formatTime) {
  const width = 720, height = 260, left = 64, bottom = 28, top = 12, right = 12;
  const svg = svgElement("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  const totals = buckets.map((b) => series.reduce((sum, s) => sum + (s.values.get(b) || 0), 0));
  const max = Math.max(1, ...totals);
  const plotW = width - left - right, plotH = height - top - bottom;
  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  svg.appendChild(svgElement("line", { x1: left, y1: top + plotH, x2: width - right, y2: top + plotH, stroke: "#999" }));
  for (const frac of [0, 0.5, 1]) {
    const y = top + plotH - frac * plotH;
    svg.appendChild(svgElement("line", { x1: left, y1: y, x2: width - right, y2: y, stroke: "#eee" }));
    const label = svgElement("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7385" });
    label.textContent = formatAmount(max * frac);
    svg.appendChild(label);
  }
  const colours = new Map();
  series.forEach((s, i) => colours.set(s.name, PALETTE[i % PALETTE.length]));
  buckets.forEach((b, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let y = top + plotH;
    for (const s of series) {
      const amount = s.values.get(b) || 0;
      if (amount <= 0) continue;
      const h = (amount / max) * plotH;
      y -= h;
      const bar = svgElement("rect", { x, y, width: barW, height: Math.max(h, 0.5), fill: colours.get(s.name) });
      const tip = svgElement("title", {});
      tip.textContent = `${s.name}: ${formatAmount(amount)} (${formatTime(b)})`;
      bar.appendChild(tip);
      svg.appendChild(bar);
    }
    if (buckets.length <= 12 || i % Math.ceil(buckets.length / 12) === 0) {
      const label = svgElement("text", { x: x + barW / 2, y: height - 10, "text-anchor": "middle", "font-size": 10, fill: "#6b7385" });
      label.textContent = formatTime(b);
      svg.appendChild(label);
    }
  });
  if (buckets.length === 0) {
    const empty = svgElement("text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#6b7385" });
    empty.textContent = "no spend yet";
    svg.appendChild(empty);
  }
  svg.dataset.bars = String(buckets.length);
  svg.dataset.total = String(totals.reduce((a, b) => a + b, 0));
  container.replaceChildren(svg);
  return colours;
}

window.drawStackedBars = drawStackedBars;
