// Elements built from data as text nodes only: nothing the API returns is ever parsed as markup.

/**
 * h('a', { href: '#/x', class: 'y', onclick: fn }, 'text', child) — attributes are set with setAttribute, `on*`
 * become listeners, `dataset` is copied, and children are nodes or strings (text nodes). null/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces a container's content. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A table with a header row; `rows` are arrays of cells (strings or nodes). */
export function table(headers, rows, attrs = {}) {
  return h(
    'table',
    attrs,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((t) => h('th', {}, t)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        r instanceof Node
          ? r
          : h(
              'tr',
              {},
              r.map((c) => h('td', {}, c)),
            ),
      ),
    ),
  );
}

export const badge = (text, kind = text) => h('span', { class: `badge badge-${String(kind).replace(/[^a-z_-]/gi, '')}` }, text);
