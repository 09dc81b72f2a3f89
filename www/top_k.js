// A classification's top-k as list items (label, a bar, the probability), for the image cards and
// the live webcam box alike.

/// `topK` ([{ index, label, probability }]) as <li> elements for a `.labels` list.
export function topKItems(topK) {
  return topK.map((p) => {
    const li = document.createElement('li');
    li.innerHTML = `<span class="label" data-testid="label"></span><span class="bar"><span></span></span><span class="probability" data-testid="probability"></span>`;
    li.querySelector('.label').textContent = p.label;
    li.querySelector('.label').title = `class ${p.index}`;
    li.querySelector('.bar span').style.width = `${(p.probability * 100).toFixed(1)}%`;
    li.querySelector('.probability').textContent = `${(p.probability * 100).toFixed(2)}%`;
    li.querySelector('.probability').dataset.value = p.probability;
    return li;
  });
}
