// Small helpers to build DOM nodes. Everything the app shows is built here with
// createElement and textContent: customer text (references, names) can never become markup,
// and the Content-Security-Policy (no inline styles or scripts) is kept by construction.

// Properties set on the node itself rather than as attributes: form state that the user
// changes later (an attribute would only be the initial value).
const PROPERTIES = new Set(['value', 'checked', 'selected']);

// el('button', {class: 'primary', type: 'submit', onclick: handler}, 'Sign in')
// Attribute values of false, null or undefined are left out; true sets an empty attribute.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (PROPERTIES.has(name)) node[name] = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

// Appends strings (as text) and nodes; nested arrays are flattened and empty values skipped,
// so callers can write `condition && el(...)`.
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

// A unique id for label/for and aria-describedby pairs.
let counter = 0;
export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled form field: the label is visible and bound to the control with for/id.
export function field(labelText, control, hint) {
  control.id ||= uniqueId('field');
  const hintNode = hint ? el('p', { class: 'hint', id: `${control.id}-hint`, text: hint }) : null;
  if (hintNode) control.setAttribute('aria-describedby', hintNode.id);
  return el('div', { class: 'field' }, el('label', { for: control.id, text: labelText }), control, hintNode);
}

// Disables a button while its action runs, so a double tap cannot send the request twice,
// and gives it back afterwards whatever happened.
export async function whileBusy(button, action) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}
