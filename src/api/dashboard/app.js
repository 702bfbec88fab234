// The dashboard: an overview and one page per rollback (#/rollbacks/{id}), signed in with the API's bearer token.
// Everything shown comes from the public API; GET /api/events says what changed, and only that part is reloaded.
import { ApiError, get, listen, token } from './api.js';
import { h, show } from './dom.js';
import * as f from './format.js';
import { overview } from './overview.js';
import { rollbackPage } from './rollback.js';
import { main, notice, onUnauthorized } from './ui.js';

const connection = document.getElementById('connection');
const account = document.getElementById('account');

let view;
let listening = false;

function render() {
  const m = /^#\/rollbacks\/([^/]+)$/.exec(location.hash);
  view = m ? rollbackPage(decodeURIComponent(m[1])) : overview();
  void view.reload();
}

function signIn(err) {
  view = undefined;
  const input = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    autocomplete: 'off',
    required: true,
    'aria-label': 'API token',
  });
  const form = h(
    'form',
    { class: 'card sign-in' },
    h('h2', {}, 'Sign in'),
    h(
      'p',
      {},
      err?.status === 401 && token.get() ? 'That token was not accepted. ' : '',
      'This promptback has authentication on: paste a token from AUTH_TOKENS (viewer to look, operator to approve). It is kept for this tab only.',
    ),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    token.set(input.value.trim());
    onUnauthorized(signIn);
    void start();
  });
  show(main, form);
  show(account);
  connection.textContent = 'not signed in';
  connection.className = 'connection connection-unauthorized';
  input.focus();
}

function showAccount() {
  if (!token.get()) return show(account, h('span', { class: 'muted' }, 'auth off'));
  const out = h('button', { type: 'button', class: 'link' }, 'Sign out');
  out.addEventListener('click', () => {
    token.clear();
    location.reload();
  });
  show(account, h('span', { class: 'muted' }, 'signed in · '), out);
}

async function start() {
  try {
    await get('/api/prompts');
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return signIn(e);
    notice(`The API did not answer: ${e.message}`, 'error');
  }
  showAccount();
  render();
  if (!listening) {
    listening = true;
    void listen(
      (name, data) => {
        if (name === 'ready') void view?.reload();
        else if (name === 'change') view?.changed(data);
      },
      (state) => {
        connection.textContent = state === 'live' ? 'live' : state === 'unauthorized' ? 'not signed in' : 'reconnecting…';
        connection.className = `connection connection-${state}`;
        if (state === 'unauthorized') listening = false;
      },
    );
  }
}

window.addEventListener('hashchange', () => {
  if (view) render();
});

setInterval(() => {
  for (const el of document.querySelectorAll('[data-deadline]')) {
    const left = f.countdown(el.dataset.deadline);
    el.textContent = left ?? 'deadline passed';
    el.classList.toggle('passed', left === null);
  }
  for (const el of document.querySelectorAll('[data-ago]')) el.textContent = f.ago(el.dataset.ago);
}, 1000);

onUnauthorized(signIn);
void start();
