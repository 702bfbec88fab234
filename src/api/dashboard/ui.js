// What every part of the page shares: where it draws, how it loads, how it tells the person what happened.
import { ApiError } from './api.js';
import { h } from './dom.js';

export const main = document.getElementById('main');
const notices = document.getElementById('notices');

export const TERMINAL = new Set(['completed', 'escalated', 'rejected', 'failed', 'cleared']);
export const DECIDABLE = new Set(['awaiting_approval', 'observing']);
export const enc = encodeURIComponent;
export const rollbackLink = (id, text = id) => h('a', { href: `#/rollbacks/${enc(id)}` }, text);

let unauthorized = () => undefined;
/** What a load answered with 401 does (the sign-in form). */
export const onUnauthorized = (fn) => (unauthorized = fn);

// ---------------------------------------------------------------------------------------------------------------
// Loading: one load per part at a time; a change during a load loads once more afterwards.

export function serial(load) {
  let running;
  let again = false;
  return function run() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await load();
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return unauthorized(e);
          notice(`Could not load: ${e.message}`, 'error');
        }
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}

export function notice(text, kind = 'info') {
  const n = h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  notices.prepend(n);
  while (notices.children.length > 4) notices.lastElementChild.remove();
}
