// Small images the worker sends as RGBA bytes, one after the other, drawn on canvases.

/// Image `i` of `rgba` (`side` x `side` each) on a canvas, `title` its tooltip.
export function rgbaCanvas(rgba, i, side, title) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = side;
  const bytes = side * side * 4;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + i * bytes, bytes), side, side), 0, 0);
  if (title) canvas.title = title;
  return canvas;
}
