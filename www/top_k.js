// A classification's top-k as list items (label, a bar, the probability), for the image cards and
// the live webcam box alike.

/**
 * `topK` as <li> elements for a `.labels` list.
 * @param {import('./protocol.js').Prediction[]} topK
 */
export function topKItems(topK) {
  return topK.map((p) => {
    const li = document.createElement('li');
    li.innerHTML = `<span class="label" data-testid="label"></span><span class="bar"><span></span></span><span class="probability" data-testid="probability"></span>`;
    /** @param {string} selector */
    const part = (selector) => /** @type {HTMLElement} */ (li.querySelector(selector));
    part('.label').textContent = p.label;
    part('.label').title = `class ${p.index}`;
    part('.bar span').style.width = `${(p.probability * 100).toFixed(1)}%`;
    part('.probability').textContent = `${(p.probability * 100).toFixed(2)}%`;
    part('.probability').dataset.value = String(p.probability);
    return li;
  });
}
