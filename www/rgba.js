// Small images the worker sends as RGBA bytes, one after the other, drawn on canvases.

/** Image `i` of `rgba` (`side` x `side` each) on a canvas, `title` its tooltip. */
/**
 * @param {Uint8Array} rgba
 * @param {number} i
 * @param {number} side
 * @param {string} [title]
 */
export function rgbaCanvas(rgba, i, side, title) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = side;
  const bytes = side * side * 4;
  const pixels = new Uint8ClampedArray(/** @type {ArrayBuffer} */ (rgba.buffer), rgba.byteOffset + i * bytes, bytes);
  /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d')).putImageData(new ImageData(pixels, side, side), 0, 0);
  if (title) canvas.title = title;
  return canvas;
}
