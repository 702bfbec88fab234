// The API as the page uses it: the same routes and bearer token as the CLI, on this page's own origin.

const TOKEN_KEY = 'promptback.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** A refused or failed call, with the problem+json detail a person can act on. */
export class ApiError extends Error {
  constructor(status, title, detail, body) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.body = body;
  }
}

function headers(extra = {}) {
  const t = token.get();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

async function call(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'Unreachable', `the API did not answer: ${e.message}`);
  }
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  let parsed = text;
  if (type.includes('json')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      /* keep the text */
    }
  }
  if (!res.ok) {
    const p = typeof parsed === 'object' && parsed !== null ? parsed : {};
    throw new ApiError(res.status, p.title ?? res.statusText, p.detail ?? text, parsed);
  }
  return parsed;
}

export const get = (path) => call('GET', path);
export const post = (path, body = {}) => call('POST', path, body);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Listens to GET /api/events (server-sent events) with fetch, so that the bearer token goes in a header (an
 * EventSource cannot send one). Reconnects after a drop; `onState` hears 'live', 'reconnecting' or 'unauthorized'.
 */
export async function listen(onEvent, onState) {
  for (;;) {
    try {
      const res = await fetch('/api/events', { headers: headers({ Accept: 'text/event-stream' }), cache: 'no-store' });
      if (res.status === 401 || res.status === 403) {
        onState('unauthorized');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length === 0) continue;
          let payload = {};
          try {
            payload = JSON.parse(data.join('\n'));
          } catch {
            /* not JSON: keep {} */
          }
          if (name === 'ready') onState('live');
          onEvent(name, payload);
        }
      }
    } catch {
      /* dropped: reconnect below */
    }
    onState('reconnecting');
    await sleep(2000);
  }
}
