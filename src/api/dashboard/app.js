// The dashboard: an overview (approvals, incidents, prompts, monitors, rollbacks) and one page per rollback.
// Everything shown comes from the public API; GET /api/events says what changed, and only that part is reloaded.
import { ApiError, get, listen, post, token } from './api.js';
import { drawChart } from './chart.js';
import { badge, h, show, table } from './dom.js';
import * as f from './format.js';

const main = document.getElementById('main');
const connection = document.getElementById('connection');
const account = document.getElementById('account');
const notices = document.getElementById('notices');

const TERMINAL = new Set(['completed', 'escalated', 'rejected', 'failed', 'cleared']);
const DECIDABLE = new Set(['awaiting_approval', 'observing']);
const enc = encodeURIComponent;
const rollbackHref = (id) => `#/rollbacks/${enc(id)}`;
const rollbackLink = (id, text = id) => h('a', { href: rollbackHref(id) }, text);

// ---------------------------------------------------------------------------------------------------------------
// Loading: one load per part at a time; a change during a load loads once more afterwards.

function serial(load) {
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
          if (e instanceof ApiError && e.status === 401) return signIn(e);
          notice(`Could not load: ${e.message}`, 'error');
        }
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}

function notice(text, kind = 'info') {
  const n = h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  notices.prepend(n);
  while (notices.children.length > 4) notices.lastElementChild.remove();
}

// ---------------------------------------------------------------------------------------------------------------
// Decisions: the same routes the CLI posts to. A refusal (409) is shown as the API words it.

async function decide(id, kind, comment, out, buttons) {
  for (const b of buttons) b.disabled = true;
  out.className = 'decision-result';
  out.textContent = kind === 'approve' ? 'Approving…' : 'Rejecting…';
  try {
    const r = await post(`/api/rollbacks/${enc(id)}/${kind}`, comment ? { comment } : {});
    const text = `${kind === 'approve' ? 'Approved' : 'Rejected'} ${r.prompt ?? ''} (${id}) as ${r.decided_by ?? r.decision?.by ?? 'you'}: now ${r.status.replace(/_/g, ' ')}`;
    out.textContent = text;
    notice(text);
  } catch (e) {
    const text = e instanceof ApiError && e.status === 409 ? `Refused: ${e.detail}` : `${e.title ?? 'Failed'}: ${e.detail ?? e.message}`;
    out.textContent = text;
    out.classList.add('error');
    notice(text, 'error');
    for (const b of buttons) b.disabled = false;
  }
}

/** The countdown to a decision deadline, with Approve / Reject. */
function decisionBox(r) {
  const comment = h('input', {
    type: 'text',
    class: 'comment',
    placeholder: 'comment (optional)',
    'aria-label': 'comment',
    maxlength: 500,
  });
  const out = h('p', { class: 'decision-result', role: 'status' });
  const approve = h('button', { type: 'button', class: 'approve' }, 'Approve');
  const reject = h('button', { type: 'button', class: 'reject' }, 'Reject');
  const both = [approve, reject];
  approve.addEventListener('click', () => void decide(r.rollback_id, 'approve', comment.value.trim(), out, both));
  reject.addEventListener('click', () => void decide(r.rollback_id, 'reject', comment.value.trim(), out, both));
  return h(
    'div',
    { class: 'decision' },
    h(
      'p',
      { class: 'deadline' },
      r.deadline
        ? [
            h('span', { class: 'countdown', dataset: { deadline: r.deadline } }, f.countdown(r.deadline) ?? 'deadline passed'),
            ` — decide by ${f.clock(r.deadline)}; then: ${r.default_action ?? 'escalate'}`,
          ]
        : 'no deadline',
    ),
    h('div', { class: 'actions' }, comment, approve, reject),
    out,
  );
}

/** Pause, resume or abort a gradual rollback: the same routes as the CLI; a refusal shows the API's words. */
function controlBox(r) {
  const out = h('p', { class: 'decision-result', role: 'status' });
  const buttons = ['pause', 'resume', 'abort'].map((c) => h('button', { type: 'button', class: c }, c[0].toUpperCase() + c.slice(1)));
  buttons.forEach((b, i) =>
    b.addEventListener('click', async () => {
      const c = ['pause', 'resume', 'abort'][i];
      for (const x of buttons) x.disabled = true;
      out.className = 'decision-result';
      try {
        const v = await post(`/api/rollbacks/${enc(r.rollback_id)}/${c}`);
        out.textContent = `${c}: now ${v.status.replace(/_/g, ' ')}`;
        notice(`${r.prompt} (${r.rollback_id}): ${out.textContent}`);
      } catch (e) {
        out.textContent =
          e instanceof ApiError && e.status === 409 ? `Refused: ${e.detail}` : `${e.title ?? 'Failed'}: ${e.detail ?? e.message}`;
        out.classList.add('error');
        notice(out.textContent, 'error');
      } finally {
        for (const x of buttons) x.disabled = false;
      }
    }),
  );
  return h('div', { class: 'decision' }, h('div', { class: 'actions' }, buttons), out);
}

// ---------------------------------------------------------------------------------------------------------------
// Overview

function overview() {
  const part = (id, title) => {
    const body = h('div', { class: 'part-body' }, h('p', { class: 'muted' }, 'Loading…'));
    return { body, el: h('section', { id, class: 'part' }, h('h2', {}, title), body) };
  };
  const approvals = part('approvals', 'Pending approvals');
  const incidents = part('incidents', 'Open incidents');
  const prompts = part('prompts', 'Prompts');
  const monitors = part('monitors', 'Monitors');
  const recent = part('recent', 'Recent rollbacks');
  show(main, approvals.el, incidents.el, prompts.el, monitors.el, recent.el);

  const loadPrompts = serial(async () => {
    const list = (await get('/api/prompts')).prompts;
    const details = await Promise.all(list.map((p) => get(`/api/prompts/${enc(p.name)}`)));
    if (list.length === 0) return show(prompts.body, h('p', { class: 'muted' }, 'No prompts yet: PUT /api/prompts/{name} registers one.'));
    show(
      prompts.body,
      table(
        ['Prompt', 'Active version', 'Traffic', 'Monitored', 'Open rollback'],
        details.map((p) =>
          h(
            'tr',
            { dataset: { prompt: p.name } },
            h('td', { class: 'name' }, h('strong', {}, p.name), p.description ? h('div', { class: 'muted' }, p.description) : null),
            h('td', { class: 'active-version' }, p.active_version ?? '—'),
            h('td', { class: 'traffic' }, f.traffic(p.traffic)),
            h('td', {}, list.find((x) => x.name === p.name)?.monitored ? 'yes' : 'no'),
            h('td', {}, p.open_rollback_id ? rollbackLink(p.open_rollback_id) : '—'),
          ),
        ),
      ),
    );
  });

  const loadMonitors = serial(async () => {
    const list = (await get('/api/monitors')).monitors;
    if (list.length === 0) return show(monitors.body, h('p', { class: 'muted' }, 'No monitors: a deploy starts one.'));
    show(
      monitors.body,
      table(
        ['Prompt', 'State', 'Version', 'Last check', 'Verdict', 'Numbers', 'Action'],
        list.map((m) => {
          const v = m.last_verdict;
          return h(
            'tr',
            { dataset: { monitor: m.prompt } },
            h('td', {}, m.prompt),
            h('td', {}, badge(m.status)),
            h('td', {}, m.active_version ?? '—'),
            h(
              'td',
              {},
              m.last_check_at ? h('span', { dataset: { ago: m.last_check_at } }, f.ago(m.last_check_at)) : 'not yet',
              ` (${m.checks} checks)`,
            ),
            h('td', { class: 'verdict' }, v ? badge(v.kind) : '—', v?.severity ? ` ${v.severity}` : ''),
            h('td', { class: 'numbers' }, v ? f.verdictNumbers(v) : '—', v?.summary ? h('div', { class: 'muted' }, v.summary) : null),
            h('td', {}, m.open_rollback_id ? rollbackLink(m.open_rollback_id, m.last_action ?? 'incident') : (m.last_action ?? '—')),
          );
        }),
      ),
    );
  });

  let approvalsShown;
  const showApprovals = (pending) =>
    show(
      approvals.body,

      pending.approvals.length === 0
        ? h('p', { class: 'muted' }, 'Nothing awaits a decision.')
        : pending.approvals.map((a) =>
            h(
              'article',
              { class: `card approval severity-${a.severity}`, dataset: { rollback: a.rollback_id } },
              h('h3', {}, a.prompt, ' ', badge(a.severity), ' ', badge(a.status.replace(/_/g, ' '), a.status)),
              h('p', {}, a.reason),
              a.trigger ? h('p', { class: 'trigger' }, f.verdictNumbers(a.trigger)) : null,
              decisionBox(a),
              h(
                'p',
                { class: 'muted' },
                rollbackLink(a.rollback_id, 'timeline and chart →'),
                a.tier > 1 ? ` · escalated to tier ${a.tier}` : '',
              ),
            ),
          ),
    );

  const loadRollbacks = serial(async () => {
    const [pending, all] = await Promise.all([get('/api/approvals'), get('/api/rollbacks?limit=20')]);
    // Unchanged approvals keep their cards, so a comment being typed is not wiped by another rollback's change.
    const signature = JSON.stringify(pending.approvals);
    if (signature !== approvalsShown) showApprovals(pending);
    approvalsShown = signature;
    const open = all.rollbacks.filter((r) => !TERMINAL.has(r.status));
    show(
      incidents.body,
      open.length === 0
        ? h('p', { class: 'muted' }, 'No open incidents.')
        : table(
            ['Rollback', 'Prompt', 'State', 'Severity', 'From → to', 'Opened'],
            open.map((r) => [
              rollbackLink(r.rollback_id),
              r.prompt,
              badge(r.status.replace(/_/g, ' '), r.status),
              r.severity,
              `${r.from_version ?? '—'} → ${r.to_version ?? 'known-good'}`,
              h('span', { dataset: { ago: r.requested_at } }, f.ago(r.requested_at)),
            ]),
          ),
    );
    show(
      recent.body,
      all.rollbacks.length === 0
        ? h('p', { class: 'muted' }, 'No rollbacks yet.')
        : table(
            ['Rollback', 'Prompt', 'State', 'Outcome', 'From → to', 'Requested'],
            all.rollbacks.map((r) => [
              rollbackLink(r.rollback_id),
              r.prompt,
              badge(r.status.replace(/_/g, ' '), r.status),
              r.outcome ?? '—',
              `${r.from_version ?? '—'} → ${r.to_version ?? '—'}`,
              `${f.clock(r.requested_at)} by ${r.requested_by}`,
            ]),
          ),
    );
  });

  const all = () => Promise.all([loadPrompts(), loadMonitors(), loadRollbacks()]);
  return {
    reload: all,
    changed(c) {
      if (c.prompts) void loadPrompts();
      if (c.monitors) void loadMonitors();
      if (c.rollbacks) void loadRollbacks();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// One rollback: what happened, the chart around the switch, checks, deliveries, post-mortem.

function describe(e) {
  const d = e.detail ?? {};
  switch (e.event) {
    case 'requested':
      return `by ${d.by}: ${d.reason} (${d.mode})`;
    case 'switched':
    case 'target_selected':
      return `${d.from_version ?? '—'} → ${d.to_version}`;
    case 'approved':
    case 'rejected':
      return `by ${d.by}${d.via ? ` via ${d.via}` : ''}${d.comment ? `: “${d.comment}”` : ''}`;
    case 'awaiting_approval':
    case 'observing':
      return `${d.verdict ?? ''} — decide by ${f.clock(d.deadline)}; then: ${d.default_action ?? 'escalate'}`;
    case 'rolling_back':
      return `decided by ${d.decided_by} (${d.mode})`;
    case 'deadline_passed':
      return `no decision; default action: ${d.default_action}`;
    case 'metrics_before':
      return `${d.version}: error rate ${f.percent(d.error_rate)}, p99 ${f.millis(d.latency_ms?.p99)}, ${d.requests} requests`;
    case 'verification_check':
      return `check ${d.check}${d.of ? ` of ${d.of}` : ''}: ${d.summary}`;
    case 'paged':
    case 'notified':
      return `${d.channel ?? ''}: ${d.title ?? d.message ?? ''}`;
  }
  for (const k of ['summary', 'message', 'error', 'why', 'reason']) if (typeof d[k] === 'string') return d[k];
  return Object.entries(d)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`)
    .join(', ');
}

/** The moments the chart marks: detection (or the request), the decision, the switch. */
function moments(r) {
  const first = (...events) => r.timeline.find((e) => events.includes(e.event));
  const detected = first('detected') ?? first('requested');
  const decided = first('approved', 'rejected', 'deadline_passed', 'rolling_back');
  const switched = first('switched');
  const out = [];
  if (detected) out.push({ at: Date.parse(detected.at), label: detected.event === 'detected' ? 'detected' : 'requested' });
  if (decided)
    out.push({ at: Date.parse(decided.at), label: decided.event === 'rolling_back' ? 'decided' : decided.event.replace(/_/g, ' ') });
  if (switched) out.push({ at: Date.parse(switched.at), label: 'switched' });
  return out;
}

/** One bucket as a row: requests, error rate, p99 (the slowest version's) and quality. */
function summarize(p) {
  if (!p || p.requests === 0) return [p ? '0' : '—', '—', '—', '—'];
  return [String(p.requests), f.percent(p.error_rate), f.millis(p.latency_p99_ms), f.percent(p.quality_mean)];
}

function rollbackPage(id) {
  let chart;
  const head = h('div', { class: 'part-body' }, h('p', { class: 'muted' }, 'Loading…'));
  const chartBox = h('div', { id: 'chart', class: 'chart' });
  const chartNote = h('p', { class: 'muted chart-note' });
  const beforeAfter = h('div', { class: 'before-after' });
  const timeline = h('div', { class: 'part-body' });
  const checks = h('div', { class: 'part-body' });
  const deliveries = h('div', { class: 'part-body' });
  const postMortem = h('div', { class: 'part-body' });
  show(
    main,
    h('p', {}, h('a', { href: '#/' }, '← Overview')),
    h('section', { class: 'part', id: 'rollback' }, h('h2', {}, 'Rollback ', id), head),
    h('section', { class: 'part', id: 'around-the-switch' }, h('h2', {}, 'Around the switch'), chartBox, beforeAfter, chartNote),
    h('section', { class: 'part', id: 'timeline' }, h('h2', {}, 'Timeline'), timeline),
    h('section', { class: 'part', id: 'verification' }, h('h2', {}, 'Verification'), checks),
    h('section', { class: 'part', id: 'deliveries' }, h('h2', {}, 'Notifications'), deliveries),
    h('section', { class: 'part', id: 'post-mortem' }, h('h2', {}, 'Post-mortem'), postMortem),
  );

  const load = serial(async () => {
    const r = await get(`/api/rollbacks/${enc(id)}`);
    const facts = [
      ['Prompt', r.prompt],
      ['Versions', `${r.from_version ?? '—'} → ${r.to_version ?? 'known-good (chosen at the switch)'}`],
      ['State', badge(r.status.replace(/_/g, ' '), r.status)],
      ['Outcome', r.outcome ?? '—'],
      ['Severity', r.severity],
      ['Mode', r.mode],
      ['Reason', r.reason],
      ['Trigger', r.trigger ? f.verdictNumbers(r.trigger) : '—'],
      ...(r.gradual
        ? [
            [
              'Stage',
              `${r.gradual.stage + 1} of ${r.gradual.of}: ${r.gradual.percent} % left on ${r.from_version ?? 'the old version'}${r.gradual.paused ? ` (paused${r.gradual.paused_reason ? `: ${r.gradual.paused_reason}` : ''})` : ''} — ${r.gradual.next_step}`,
            ],
          ]
        : []),
      ['Requested', `${f.clock(r.requested_at)} by ${r.requested_by}`],
      ['Decided by', r.decided_by ?? r.decision?.by ?? '—'],
    ];
    show(
      head,
      h(
        'dl',
        { class: 'facts' },
        facts.map(([k, v]) => [h('dt', {}, k), h('dd', { class: `fact-${k.toLowerCase().replace(/\W+/g, '-')}` }, v)]),
      ),
      DECIDABLE.has(r.status) ? decisionBox(r) : null,
      r.mode === 'gradual' && (r.status === 'rolling_back' || r.status === 'paused') ? controlBox(r) : null,
      // Only a web address becomes a link (never a javascript: URL, whatever the configuration says).
      /^https?:\/\//.test(r.web_ui_url ?? '')
        ? h(
            'p',
            { class: 'muted' },
            h('a', { href: r.web_ui_url, target: '_blank', rel: 'noopener noreferrer' }, 'Open in the Temporal Web UI'),
          )
        : null,
    );

    show(
      timeline,
      r.timeline.length === 0
        ? h('p', { class: 'muted' }, 'Nothing recorded yet.')
        : table(
            ['Time', 'Event', 'What'],
            r.timeline.map((e) =>
              h(
                'tr',
                { class: `event-${e.event}` },
                h('td', {}, f.clock(e.at)),
                h('td', {}, e.event.replace(/_/g, ' ')),
                h('td', {}, describe(e)),
              ),
            ),
          ),
    );

    const v = r.verification;
    show(
      checks,
      !v
        ? h('p', { class: 'muted' }, 'Verification starts after the switch.')
        : [
            h('p', { class: 'verification-result' }, 'Result: ', badge(v.result)),
            v.checks.length === 0
              ? h('p', { class: 'muted' }, 'No checks yet.')
              : table(
                  ['#', 'Verdict', 'Numbers', 'Summary'],
                  v.checks.map((c, i) => [String(i + 1), badge(c.kind), f.verdictNumbers(c), c.summary]),
                ),
          ],
    );

    show(
      deliveries,
      (r.deliveries ?? []).length === 0
        ? h('p', { class: 'muted' }, 'No notifications were sent for this rollback (no channel configured, or nothing to tell).')
        : table(
            ['Channel', 'Kind', 'Title', 'Status', 'Attempts', 'Last answer'],
            r.deliveries.map((d) => [
              d.channel,
              `${d.kind}${d.lifecycle ? ` (${d.lifecycle})` : ''}`,
              d.title,
              badge(d.status),
              String(d.attempts),
              d.last_http_status ? `HTTP ${d.last_http_status}${d.last_reason ? `: ${d.last_reason}` : ''}` : (d.last_reason ?? '—'),
            ]),
          ),
    );

    const pm = r.post_mortem;
    if (!pm) {
      show(postMortem, h('p', { class: 'muted' }, 'Written when the rollback ends.'));
    } else {
      const markdown = await get(`/api/rollbacks/${enc(id)}/postmortem`);
      show(
        postMortem,
        h(
          'dl',
          { class: 'facts durations' },
          [
            ['Time to detect', pm.time_to_detect_s],
            ['Time to decide', pm.time_to_decide_s],
            ['Time to switch', pm.time_to_switch_s],
            ['Time to restore', pm.time_to_restore_s],
            ['Total', pm.total_s],
          ].map(([k, s]) => [h('dt', {}, k), h('dd', {}, f.duration(s))]),
        ),
        h('p', { class: 'pm-summary' }, pm.summary),
        h(
          'details',
          {},
          h('summary', {}, 'The full post-mortem (Markdown, as GET …/postmortem serves it)'),
          h('pre', { class: 'markdown' }, typeof markdown === 'string' ? markdown : JSON.stringify(markdown, null, 2)),
        ),
      );
    }

    // The chart: from 10 min before detection (twice the monitors' window) to 10 min after the switch (or now).
    const marks = moments(r);
    const start = Math.min(...marks.map((m) => m.at), Date.parse(r.requested_at)) - 10 * 60_000;
    const last = marks.find((m) => m.label === 'switched')?.at ?? Date.parse(r.updated_at);
    const end = Math.min(Date.now(), Math.max(last, Date.parse(r.updated_at)) + 10 * 60_000);
    const step = Math.max(1, Math.ceil((end - start) / 1000 / 80));
    const series = await get(
      `/api/prompts/${enc(r.prompt)}/metrics/series?from=${enc(new Date(start).toISOString())}&to=${enc(new Date(end).toISOString())}&step_s=${step}`,
    );
    chart?.destroy();
    chartBox.replaceChildren();
    chart = drawChart(chartBox, series, marks);
    const requests = series.points.reduce((n, p) => n + p.requests, 0);
    // Before and after in the monitors' terms: the 5 min before the switch and up to 5 min after it, as two buckets.
    const switchedAt = marks.find((m) => m.label === 'switched')?.at;
    if (switchedAt === undefined) {
      show(beforeAfter);
    } else {
      const at = Math.floor(switchedAt / 1000) * 1000;
      const until = Math.max(at + 1000, Math.min(Date.now(), at + 300_000));
      const sides = await get(
        `/api/prompts/${enc(r.prompt)}/metrics/series?from=${enc(new Date(at - 300_000).toISOString())}&to=${enc(new Date(until).toISOString())}&step_s=300`,
      );
      const [before, after] = sides.points;
      show(
        beforeAfter,
        table(
          ['', 'Requests', 'Error rate', 'p99 latency', 'Quality'],
          [
            ['5 min before the switch', ...summarize(before)],
            [`After the switch (${f.duration((until - at) / 1000)})`, ...summarize(after)],
          ],
          { class: 'before-after-table' },
        ),
      );
    }
    chartNote.textContent = `${requests} requests of ${series.versions.join(', ') || 'no version'} in ${f.duration(step)} buckets; p99 is the slowest serving version's. Marked: ${marks.map((m) => `${m.label} ${f.clock(new Date(m.at).toISOString())}`).join(', ')}.`;
  });

  return {
    reload: load,
    changed(c) {
      if (c.rollbacks?.includes(id)) void load();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Sign-in, routing, live updates, the ticking clock.

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

void start();
