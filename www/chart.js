// A small line chart on a canvas: a few series of [x, y] points, a y grid and a legend.

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{ label: string, color: string, points: [number, number][] }[]} series
 * @param {{ yMin?: number, yMax?: number, xLabel: string, yFormat?: (y: number) => string }} axes
 */
export function lineChart(canvas, series, { yMin = 0, yMax, xLabel, yFormat = (y) => y.toFixed(2) }) {
  const ratio = devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.scale(ratio, ratio);
  ctx.font = '11px system-ui, sans-serif';
  const points = series.flatMap((s) => s.points);
  const top = yMax ?? (points.length ? Math.max(yMin + 1e-9, ...points.map(([, y]) => y)) : yMin + 1);
  const xMax = Math.max(1, ...points.map(([x]) => x));
  const box = { left: 44, right: width - 10, top: 10, bottom: height - 24 };
  /** @param {number} x */
  const px = (x) => box.left + (x / xMax) * (box.right - box.left);
  /** @param {number} y */
  const py = (y) => box.bottom - ((y - yMin) / (top - yMin)) * (box.bottom - box.top);

  ctx.strokeStyle = '#dfe3ec';
  ctx.fillStyle = '#5d6677';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((top - yMin) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(box.left, py(y));
    ctx.lineTo(box.right, py(y));
    ctx.stroke();
    ctx.fillText(yFormat(y), box.left - 6, py(y));
  }
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(`${xLabel} (0 to ${xMax})`, box.left, box.bottom + 8);

  // The legend sits under the plot, on the right, where no line can cross it.
  let legendX = box.right;
  ctx.textAlign = 'right';
  for (const s of [...series].reverse()) {
    ctx.strokeStyle = ctx.fillStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
    ctx.stroke();
    if (s.points.length < 40) for (const [x, y] of s.points) ctx.fillRect(px(x) - 2, py(y) - 2, 4, 4);
    ctx.fillText(s.label, legendX, box.bottom + 8);
    legendX -= ctx.measureText(s.label).width + 16;
  }
  canvas.dataset.points = String(points.length);
}
