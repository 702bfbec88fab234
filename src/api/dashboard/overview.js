// The overview: pending approvals, open incidents, prompts, monitors, recent rollbacks.
import { get } from './api.js';
import { decisionBox } from './decisions.js';
import { badge, h, show, table } from './dom.js';
import * as f from './format.js';
import { TERMINAL, enc, main, rollbackLink, serial } from './ui.js';

export function overview() {
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
