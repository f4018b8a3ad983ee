// An SVG line chart of active devices per bundle version per day, drawn here (no chart library).
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

/** activeByDay: [{day: "YYYY-MM-DD", version, devices}] → a figure with the chart, a legend and a text summary. */
export function activeDevicesChart(activeByDay, days = 30) {
  const axis = lastDays(days);
  const versions = [...new Set(activeByDay.map((row) => row.version))].sort();
  const figure = h("figure", { class: "chart" });
  if (!versions.length) {
    figure.append(h("p", { class: "empty" }, "No device has checked in on this channel in the last 30 days."));
    return figure;
  }
  const counts = new Map(activeByDay.map((row) => [`${row.version}|${row.day}`, row.devices]));
  const max = niceMax(Math.max(...activeByDay.map((row) => row.devices)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (index) => PAD.left + (plotW * index) / (axis.length - 1);
  const y = (value) => PAD.top + plotH - (plotH * value) / max;

  const titleId = `chart-title-${Math.random().toString(36).slice(2, 8)}`;
  const svg = h("svg:svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": titleId, class: "chart-svg" },
    h("svg:title", { id: titleId }, `Active devices per bundle version per day, last ${days} days`));
  for (let tick = 0; tick <= 4; tick += 1) {
    const value = (max * tick) / 4;
    svg.append(h("svg:line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: "grid" }),
      h("svg:text", { x: PAD.left - 6, y: y(value) + 4, class: "tick tick-y" }, String(Math.round(value))));
  }
  axis.forEach((day, index) => {
    if (index % 7 === (axis.length - 1) % 7) {
      svg.append(h("svg:text", { x: x(index), y: HEIGHT - 8, class: "tick tick-x" }, day.slice(5)));
    }
  });
  versions.forEach((version, seriesIndex) => {
    const values = axis.map((day) => counts.get(`${version}|${day}`) || 0);
    const points = values.map((value, index) => `${x(index).toFixed(1)},${y(value).toFixed(1)}`).join(" ");
    const tone = `series-${seriesIndex % SERIES_CLASSES}`;
    svg.append(h("svg:polyline", { points, class: `line ${tone}` }));
    values.forEach((value, index) => {
      if (value) {
        svg.append(h("svg:circle", { cx: x(index), cy: y(value), r: 3, class: `dot ${tone}` },
          h("svg:title", {}, `${axis[index]}: ${value} device${value === 1 ? "" : "s"} on ${version}`)));
      }
    });
  });
  const today = axis[axis.length - 1];
  const legend = h("ul", { class: "legend" }, versions.map((version, index) => h("li", {},
    h("span", { class: `swatch series-${index % SERIES_CLASSES}`, "aria-hidden": "true" }),
    `${version} — ${counts.get(`${version}|${today}`) || 0} today`)));
  figure.append(svg, h("figcaption", {}, legend));
  return figure;
}
