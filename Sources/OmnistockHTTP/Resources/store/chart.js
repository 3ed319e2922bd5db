// Small charts drawn as inline SVG by the page itself (createElementNS, no library). Colours
// and strokes are SVG presentation attributes or classes of app.css, never style attributes,
// so the Content-Security-Policy holds. Each chart is an image with an accessible name (role
// "img" and aria-label); the screen that shows it gives a text alternative beside it.

const SVG = 'http://www.w3.org/2000/svg';

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child) node.append(child);
  }
  return node;
}

// The frame of a chart: the image itself, with its name as aria-label and <title>.
function frame(width, height, label, kind) {
  return svg('svg', {
    class: `chart-svg chart-${kind}`, role: 'img', 'aria-label': label,
    width, height, viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'xMinYMin meet',
  }, svg('title', { text: label }));
}

// A round step for an axis that goes up to `max` in about `ticks` steps (1, 2, 5 × 10^n).
function niceStep(max, ticks) {
  const raw = Math.max(max, 1) / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * power).find((candidate) => candidate >= raw);
  return Math.max(1, step);
}

// Vertical bars (the order-to-ready distribution): `bins` [{label, value}], an axis title under
// and beside, and an optional marker line at `marker.at` (a fractional bin index).
export function barChart({ width, label, bins, xTitle, yTitle, marker, tickEvery = 1, formatValue = String }) {
  const height = 260;
  const pad = { left: 52, right: 16, top: 28, bottom: 56 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(1, ...bins.map((bin) => bin.value));
  const step = niceStep(max, 4);
  const top = Math.ceil(max / step) * step;
  const root = frame(width, height, label, 'bars');
  const y = (value) => pad.top + plotH - (value / top) * plotH;
  const slot = plotW / Math.max(1, bins.length);
  const grid = svg('g', { class: 'chart-grid', 'aria-hidden': 'true' });
  for (let value = 0; value <= top; value += step) {
    grid.append(
      svg('line', { x1: pad.left, x2: pad.left + plotW, y1: y(value), y2: y(value), class: value === 0 ? 'chart-axis' : 'chart-gridline' }),
      svg('text', { x: pad.left - 8, y: y(value) + 4, 'text-anchor': 'end', class: 'chart-tick', text: formatValue(value) }));
  }
  const bars = svg('g', { class: 'chart-bars' });
  bins.forEach((bin, index) => {
    const x = pad.left + index * slot;
    if (bin.value > 0) {
      bars.append(svg('rect', {
        x: x + slot * 0.12, width: Math.max(1, slot * 0.76), y: y(bin.value), height: y(0) - y(bin.value),
        class: bin.over ? 'chart-bar chart-bar-over' : 'chart-bar', 'data-value': bin.value,
      }));
    }
    // Ticks at the bins' left edges (a histogram's scale); the last bin, open-ended, is named
    // under its middle, and no edge tick comes closer to it than a bin and a half.
    const last = index === bins.length - 1;
    if (last) {
      // Ends at the chart's right edge at the latest, so that a narrow chart shows it whole.
      bars.append(svg('text', { x: width - 2, y: pad.top + plotH + 18, 'text-anchor': 'end', class: 'chart-tick', text: bin.label }));
    } else if (index % tickEvery === 0 && index <= bins.length - 2) {
      bars.append(
        svg('line', { x1: x, x2: x, y1: pad.top + plotH, y2: pad.top + plotH + 5, class: 'chart-axis', 'aria-hidden': 'true' }),
        svg('text', { x, y: pad.top + plotH + 18, 'text-anchor': index === 0 ? 'start' : 'middle', class: 'chart-tick', text: bin.edge ?? bin.label }));
    }
  });
  root.append(grid, bars);
  if (marker) {
    const x = pad.left + marker.at * slot;
    root.append(svg('g', { class: 'chart-marker promise-line', 'data-seconds': marker.seconds },
      svg('line', { x1: x, x2: x, y1: pad.top - 6, y2: pad.top + plotH, class: 'chart-marker-line' }),
      svg('text', { x: Math.min(x + 4, width - pad.right), y: pad.top - 10, 'text-anchor': x > width * 0.7 ? 'end' : 'start', class: 'chart-marker-text', text: marker.label })));
  }
  root.append(
    svg('text', { x: pad.left + plotW / 2, y: height - 10, 'text-anchor': 'middle', class: 'chart-axis-title', text: xTitle }),
    svg('text', { x: 14, y: pad.top + plotH / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${pad.top + plotH / 2})`, class: 'chart-axis-title', text: yTitle }));
  return root;
}

// Lines of ratios (0 to 1) over time: `points` [{label}], `lines` [{key, name, values[], kind}]
// where a null value is a gap (nothing to divide by that day).
export function lineChart({ width, label, points, lines, xTitle, yTitle, tickEvery = 1, formatValue }) {
  const height = 260;
  const pad = { left: 56, right: 28, top: 20, bottom: 56 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const values = lines.flatMap((line) => line.values).filter((value) => value !== null && value !== undefined);
  // A top of 20 %, 40 %, 60 %, 80 % or 100 %: four round steps.
  const max = Math.max(0, ...values);
  const top = [0.2, 0.4, 0.6, 0.8, 1].find((candidate) => candidate >= max - 1e-9) ?? 1;
  const root = frame(width, height, label, 'lines');
  const y = (value) => pad.top + plotH - (value / top) * plotH;
  const x = (index) => pad.left + (points.length <= 1 ? plotW / 2 : (index / (points.length - 1)) * plotW);
  const grid = svg('g', { class: 'chart-grid', 'aria-hidden': 'true' });
  for (let i = 0; i <= 4; i += 1) {
    const value = (top * i) / 4;
    grid.append(
      svg('line', { x1: pad.left, x2: pad.left + plotW, y1: y(value), y2: y(value), class: i === 0 ? 'chart-axis' : 'chart-gridline' }),
      svg('text', { x: pad.left - 8, y: y(value) + 4, 'text-anchor': 'end', class: 'chart-tick', text: formatValue(value) }));
  }
  root.append(grid);
  const ticks = svg('g', {});
  // Counted from the last point, which is always named (the latest day).
  points.forEach((point, index) => {
    if ((points.length - 1 - index) % tickEvery === 0) {
      ticks.append(svg('text', { x: x(index), y: pad.top + plotH + 18, 'text-anchor': 'middle', class: 'chart-tick', text: point.label }));
    }
  });
  root.append(ticks);
  for (const line of lines) {
    const group = svg('g', { class: `chart-series chart-series-${line.kind}`, 'data-series': line.key });
    // One path per run of days with a value; a lone day is a dot.
    let run = [];
    const flush = () => {
      if (run.length > 1) group.append(svg('path', { class: 'chart-line', d: run.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join(' ') }));
      run = [];
    };
    line.values.forEach((value, index) => {
      if (value === null || value === undefined) {
        flush();
        return;
      }
      run.push([x(index), y(value)]);
      group.append(line.kind === 'b'
        ? svg('rect', { class: 'chart-point', x: x(index) - 4, y: y(value) - 4, width: 8, height: 8 })
        : svg('circle', { class: 'chart-point', cx: x(index), cy: y(value), r: 4.5 }));
    });
    flush();
    root.append(group);
  }
  root.append(
    svg('text', { x: pad.left + plotW / 2, y: height - 10, 'text-anchor': 'middle', class: 'chart-axis-title', text: xTitle }),
    svg('text', { x: 14, y: pad.top + plotH / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${pad.top + plotH / 2})`, class: 'chart-axis-title', text: yTitle }));
  return root;
}

// Horizontal bars of ratios (availability per store): `rows` [{id, name, value, text}], the
// name on the left, the bar, the figure on the right; a null value draws no bar.
export function ratioBars({ width, label, rows, xTitle, formatValue }) {
  const narrow = width < 520;
  const rowH = narrow ? 46 : 34;
  const pad = { left: narrow ? 12 : 180, right: narrow ? 12 : 150, top: 12, bottom: 44 };
  const plotW = width - pad.left - pad.right;
  const height = pad.top + rows.length * rowH + pad.bottom;
  const root = frame(width, height, label, 'hbars');
  const x = (value) => pad.left + value * plotW;
  const grid = svg('g', { class: 'chart-grid', 'aria-hidden': 'true' });
  for (let i = 0; i <= 4; i += 1) {
    const value = i / 4;
    grid.append(
      svg('line', { x1: x(value), x2: x(value), y1: pad.top, y2: pad.top + rows.length * rowH, class: i === 0 ? 'chart-axis' : 'chart-gridline' }),
      svg('text', { x: x(value), y: pad.top + rows.length * rowH + 16, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', class: 'chart-tick', text: formatValue(value) }));
  }
  root.append(grid);
  rows.forEach((row, index) => {
    const top = pad.top + index * rowH;
    const barY = narrow ? top + 22 : top + 7;
    const barH = narrow ? 16 : rowH - 14;
    const group = svg('g', { class: 'chart-row', 'data-location-id': row.id });
    group.append(svg('rect', { class: 'chart-track', x: pad.left, y: barY, width: plotW, height: barH }));
    if (row.value !== null && row.value !== undefined) {
      group.append(svg('rect', { class: 'chart-bar', x: pad.left, y: barY, width: Math.max(row.value > 0 ? 2 : 0, row.value * plotW), height: barH, 'data-value': row.value }));
    }
    if (narrow) {
      group.append(
        svg('text', { x: pad.left, y: top + 15, class: 'chart-label', text: row.name }),
        svg('text', { x: width - pad.right, y: top + 15, 'text-anchor': 'end', class: 'chart-value', text: row.text }));
    } else {
      group.append(
        svg('text', { x: pad.left - 10, y: barY + barH / 2 + 5, 'text-anchor': 'end', class: 'chart-label', text: row.name }),
        svg('text', { x: width - pad.right + 10, y: barY + barH / 2 + 5, class: 'chart-value', text: row.text }));
    }
    root.append(group);
  });
  root.append(svg('text', { x: pad.left + plotW / 2, y: height - 8, 'text-anchor': 'middle', class: 'chart-axis-title', text: xTitle }));
  return root;
}
