// SVG line charts drawn here (no chart library): active devices per bundle version per day, and a
// release's health per hour. Both are one lineChart over an axis of labels and named series.
import { h } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 240;
const PAD = { top: 16, right: 16, bottom: 28, left: 40 };
const SERIES_CLASSES = 8;

function lastDays(count) {
  const days = [];
  const today = new Date();
  for (let back = count - 1; back >= 0; back -= 1) {
    const day = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - back));
    days.push(day.toISOString().slice(0, 10));
  }
  return days;
}

function niceMax(value) {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * magnitude * 4 >= value) * magnitude;
  return step * 4;
}

/**
 * A figure with the chart, a legend and titles on every point.
 * axis: [{key, label}] (x positions); series: [{name, values (one per axis key), summary}];
 * tickEvery: label every n-th axis position; describe(axisEntry, value, series) → a point's title.
 */
export function lineChart({ title, axis, series, tickEvery = 7, emptyText, describe }) {
  const figure = h("figure", { class: "chart" });
  if (!series.length || !series.some((s) => s.values.some((v) => v))) {
    figure.append(h("p", { class: "empty" }, emptyText));
    return figure;
  }
  const max = niceMax(Math.max(...series.flatMap((s) => s.values)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (index) => PAD.left + (axis.length > 1 ? (plotW * index) / (axis.length - 1) : plotW / 2);
  const y = (value) => PAD.top + plotH - (plotH * value) / max;

  const titleId = `chart-title-${Math.random().toString(36).slice(2, 8)}`;
  const svg = h("svg:svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": titleId, class: "chart-svg" },
    h("svg:title", { id: titleId }, title));
  for (let tick = 0; tick <= 4; tick += 1) {
    const value = (max * tick) / 4;
    svg.append(h("svg:line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: "grid" }),
      h("svg:text", { x: PAD.left - 6, y: y(value) + 4, class: "tick tick-y" }, String(Math.round(value))));
  }
  axis.forEach((entry, index) => {
    if (index % tickEvery === (axis.length - 1) % tickEvery) {
      svg.append(h("svg:text", { x: x(index), y: HEIGHT - 8, class: "tick tick-x" }, entry.label));
    }
  });
  series.forEach((line, seriesIndex) => {
    const points = line.values.map((value, index) => `${x(index).toFixed(1)},${y(value).toFixed(1)}`).join(" ");
    const tone = `series-${seriesIndex % SERIES_CLASSES}`;
    svg.append(h("svg:polyline", { points, class: `line ${tone}` }));
    line.values.forEach((value, index) => {
      if (value) {
        svg.append(h("svg:circle", { cx: x(index), cy: y(value), r: 3, class: `dot ${tone}` },
          h("svg:title", {}, describe(axis[index], value, line))));
      }
    });
  });
  const legend = h("ul", { class: "legend" }, series.map((line, index) => h("li", {},
    h("span", { class: `swatch series-${index % SERIES_CLASSES}`, "aria-hidden": "true" }), line.summary)));
  figure.append(svg, h("figcaption", {}, legend));
  return figure;
}

/** activeByDay: [{day: "YYYY-MM-DD", version, devices}] → active devices per version per day. */
export function activeDevicesChart(activeByDay, days = 30) {
  const axis = lastDays(days).map((day) => ({ key: day, label: day.slice(5) }));
  const counts = new Map(activeByDay.map((row) => [`${row.version}|${row.day}`, row.devices]));
  const today = axis[axis.length - 1].key;
  const series = [...new Set(activeByDay.map((row) => row.version))].sort().map((version) => ({
    name: version,
    values: axis.map((entry) => counts.get(`${version}|${entry.key}`) || 0),
    summary: `${version} — ${counts.get(`${version}|${today}`) || 0} today`,
  }));
  return lineChart({
    title: `Active devices per bundle version per day, last ${days} days`, axis, series,
    emptyText: "No device has checked in on this channel in the last 30 days.",
    describe: (entry, value, line) => `${entry.key}: ${value} device${value === 1 ? "" : "s"} on ${line.name}`,
  });
}

const HEALTH_SERIES = [["launches", "Launches"], ["crashes", "Crashes"], ["jsErrors", "JS errors"], ["failures", "Update failures"]];

/** points: [{at, launches, crashes, jsErrors, failures}] per hour → one line per figure, last `hours` hours. */
export function healthChart(points, hours = 48) {
  const now = new Date();
  now.setUTCMinutes(0, 0, 0);
  const axis = [];
  for (let back = hours - 1; back >= 0; back -= 1) {
    const at = new Date(now.getTime() - back * 3600_000).toISOString();
    axis.push({ key: at.slice(0, 13), label: `${at.slice(5, 10)} ${at.slice(11, 13)}h` });
  }
  const byHour = new Map(points.map((point) => [point.at.slice(0, 13), point]));
  const series = HEALTH_SERIES.map(([field, name]) => {
    const values = axis.map((entry) => (byHour.get(entry.key) || {})[field] || 0);
    return { name, values, summary: `${name}: ${values.reduce((sum, v) => sum + v, 0)}` };
  });
  return lineChart({
    title: `Launches, crashes, JS errors and update failures per hour, last ${hours} hours`, axis, series, tickEvery: 12,
    emptyText: "No health reports in the last 48 hours.",
    describe: (entry, value, line) => `${entry.key.replace("T", " ")}:00 UTC: ${value} ${line.name.toLowerCase()}`,
  });
}
