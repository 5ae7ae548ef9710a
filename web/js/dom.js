// Builds DOM nodes without ever parsing HTML: every string becomes a text node or an attribute
// value, so device names, emails and anything else people typed can never turn into markup.

/**
 * h('a', {href: '/x', class: 'btn', onclick: fn}, 'text', childNode, [more], null)
 * Props: `class`, `dataset` (object), `on<event>` (listener), booleans (true sets, false omits),
 * everything else as an attribute. Children: strings, numbers, nodes, arrays; null/false skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

/** Replaces everything inside `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Resolves on the next animation frame: after the browser has laid the page out. */
export function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}
