// One rollback: what happened, the chart around the switch, checks, deliveries, post-mortem.
import { get } from './api.js';
import { drawChart } from './chart.js';
import { controlBox, decisionBox } from './decisions.js';
import { badge, h, show, table } from './dom.js';
import * as f from './format.js';
import { DECIDABLE, enc, main, serial } from './ui.js';

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
    case 'baseline_tested':
      return `${d.version}: ${d.detail}`;
    case 'store_unavailable':
      return `${d.step}: ${d.error}; waiting for the store, trying every ${d.retry_every_s} s`;
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
  // The switch's commit time when recorded (the entry is stamped when the workflow wrote it, possibly before).
  if (switched) out.push({ at: Date.parse(typeof switched.detail?.at === 'string' ? switched.detail.at : switched.at), label: 'switched' });
  return out;
}

/** One bucket as a row: requests, error rate, p99 (the slowest version's) and quality. */
function summarize(p) {
  if (!p || p.requests === 0) return [p ? '0' : '—', '—', '—', '—'];
  return [String(p.requests), f.percent(p.error_rate), f.millis(p.latency_p99_ms), f.percent(p.quality_mean)];
}

export function rollbackPage(id) {
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
