import { describe, expect, it } from 'vitest';
import {
  buildPostMortem,
  formatDuration,
  renderPostMortemMarkdown,
  secondsBetween,
  type PostMortem,
  type PostMortemContext,
} from '../../../src/domain/postmortem';
import type { RollbackView, TimelineEntry } from '../../../src/domain/rollback';
import type { Verdict } from '../../../src/domain/verdict';

// The seed's runbook: customer-support v2.0.0 deployed 2026-06-01 10:00 UTC, rolled back to v1.9.0.
const DEPLOYED = '2026-06-01T10:00:00.000Z';
const T0 = Date.parse('2026-06-01T10:12:00.000Z'); // the breach is seen 12 min after the deploy
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
const ev = (s: number, event: string, detail: Record<string, unknown> = {}): TimelineEntry => ({ at: at(s), event, detail });

const verdict = (over: Partial<Verdict>): Verdict => ({
  kind: 'breached',
  rule: 'error_rate_high',
  metric: 'error_rate',
  threshold: 0.02,
  observed: 0.03,
  window_s: 300,
  samples: 200,
  severity: 'high',
  action: 'page',
  deadline_s: 300,
  default_action: 'rollback',
  baseline: 0.004,
  summary: 'high: error rate 3.00 % ≥ 2.00 % (error rate 2–5 %) over 200 requests in 300 s',
  ...over,
});
const check = (n: number, over: Partial<Verdict> = {}): Record<string, unknown> => ({
  check: n,
  of: 12,
  rule: 'verification.error_rate',
  metric: 'error_rate',
  threshold: 0.01,
  observed: 0,
  window_s: 60,
  samples: 100,
  kind: 'healthy',
  summary: 'recovered: error rate 0.00 % < 1.00 % over 100 requests',
  ...over,
});
const switched = (s: number): TimelineEntry => ev(s, 'switched', { from_version: 'v2.0.0', to_version: 'v1.9.0', at: at(s) });
const target = (s: number): TimelineEntry => ev(s, 'target_selected', { from_version: 'v2.0.0', to_version: 'v1.9.0', skipped: [] });
const notified = (s: number): TimelineEntry =>
  ev(s, 'notified', { channel: '#incidents', outbox_id: '2', title: 'ROLLBACK: customer-support', message: 'Reverted', links: {} });
const paged = (s: number, title: string): TimelineEntry =>
  ev(s, 'paged', { channel: 'on-call', outbox_id: '1', title, message: '…', links: {} });

const view = (over: Partial<RollbackView>): RollbackView => ({
  rollback_id: '20260601-101200-abcd1234',
  workflow_id: 'rollback/customer-support/20260601-101200-abcd1234',
  prompt: 'customer-support',
  from_version: 'v2.0.0',
  to_version: 'v1.9.0',
  reason: 'manual rollback',
  severity: 'high',
  mode: 'immediate',
  status: 'completed',
  requested_by: 'alice',
  requested_at: at(0),
  timeline: [],
  updated_at: at(0),
  ...over,
});

const highVerdict = verdict({});
const criticalVerdict = verdict({
  rule: 'error_rate_critical',
  threshold: 0.05,
  observed: 0.08,
  severity: 'critical',
  action: 'rollback',
  deadline_s: 120,
  summary: 'critical: error rate 8.00 % > 5.00 % (error rate > 5 %) over 400 requests in 300 s',
  samples: 400,
});
const latencyVerdict = verdict({
  rule: 'latency_p99_high',
  metric: 'latency_p99_ratio',
  threshold: 2,
  observed: 3,
  baseline: 800,
  deadline_s: 600,
  summary: 'high: p99 latency 3.00× baseline ≥ 2.00× (p99 latency ≥ 2× baseline) over 200 requests in 300 s',
});
const incident = (v: Verdict) => ({
  trigger: { metric: v.metric, threshold: v.threshold, observed: v.observed, window_s: v.window_s, samples: v.samples },
});

interface Case {
  name: string;
  view: RollbackView;
  ctx: PostMortemContext;
  outcome: string;
  decision: string | null;
  durations: Pick<PostMortem, 'time_to_detect_s' | 'time_to_decide_s' | 'time_to_switch_s' | 'time_to_restore_s' | 'total_s'>;
  decisions: { who: string; what: RegExp; comment?: string | null }[];
  before: { source: string; error_rate: number | null; observed?: number | null } | null;
  after: { kind: string; observed: number | null } | null;
  summary: RegExp;
  tests_answer: RegExp;
  suggestions: RegExp[];
  markdown: RegExp[];
}

const cases: Case[] = [
  {
    name: 'operator rollback, recovered on the second check',
    view: view({
      reason: 'accuracy dropped to 58 % after v2.0.0',
      decided_by: undefined,
      timeline: [
        ev(0, 'requested', { by: 'alice', reason: 'accuracy dropped to 58 % after v2.0.0', mode: 'immediate' }),
        target(0.15),
        ev(0.2, 'metrics_before', {
          version: 'v2.0.0',
          requests: 100,
          errors: 30,
          error_rate: 0.3,
          latency_ms: { p50: 100, p95: 200, p99: 300 },
          quality_mean: 0.58,
          quality_samples: 40,
          window_s: 300,
        }),
        switched(0.25),
        notified(0.3),
        ev(
          5.25,
          'verification_check',
          check(1, { kind: 'inconclusive', observed: null, samples: 0, summary: 'inconclusive: 0 request(s) in 60 s, at least 10 needed' }),
        ),
        ev(10.25, 'verification_check', check(2)),
        ev(10.3, 'recovered', { summary: 'recovered: error rate 0.00 % < 1.00 % over 100 requests' }),
      ],
    }),
    ctx: {
      deployed_at: DEPLOYED,
      from_known_good: true,
      from_template_excerpt: 'You are a support agent. Approve refunds generously.',
      to_template_excerpt: 'You are a support agent. Follow the refund policy.',
      audit: [{ at: at(0.25), actor: 'alice', action: 'rollback', reason: 'accuracy dropped to 58 % after v2.0.0' }],
    },
    outcome: 'recovered',
    decision: 'operator',
    // An operator's rollback: no fake "time to detect" from its request time (it used to say 720 s).
    durations: { time_to_detect_s: null, time_to_decide_s: 0, time_to_switch_s: 0.25, time_to_restore_s: 10.05, total_s: 10.3 },
    decisions: [{ who: 'alice', what: /^requested immediate rollback to v1\.9\.0$/, comment: 'accuracy dropped to 58 % after v2.0.0' }],
    before: { source: 'metrics_before', error_rate: 0.3 },
    after: { kind: 'healthy', observed: 0 },
    summary: /^alice rolled back customer-support v2\.0\.0 → v1\.9\.0 .*Recovery was verified 10\.05 s after the switch/,
    tests_answer: /^yes — v2\.0\.0 passed its baseline test$/,
    suggestions: [/canary \(1 % → 5 % → 25 % → 100 %\)/, /first hour/],
    markdown: [
      /## Audit trail\n\n\| time \| actor \| action \| reason \|/,
      /Template of v2\.0\.0 \(excerpt\):\n\n```\nYou are a support agent\. Approve refunds generously\.\n```/,
      /\| quality mean \| 0\.580 \| — \|/,
      /\*\*Why didn't the tests catch it\?\*\* _to be answered_/,
    ],
  },
  {
    name: 'critical incident, rolled back automatically',
    view: view({
      severity: 'critical',
      requested_by: 'monitor',
      reason: criticalVerdict.summary,
      incident_rule: 'error_rate_critical',
      ...incident(criticalVerdict),
      timeline: [
        ev(0, 'requested', { by: 'monitor', reason: criticalVerdict.summary, mode: 'immediate' }),
        ev(0.1, 'detected', { ...criticalVerdict }),
        ev(1.5, 'reconfirmed', { ...criticalVerdict, observed: 0.09, summary: 'critical: error rate 9.00 % > 5.00 %' }),
        ev(1.5, 'rolling_back', { decided_by: 'system', mode: 'immediate' }),
        target(1.6),
        switched(2.1),
        notified(2.2),
        ev(
          7.1,
          'verification_check',
          check(1, { observed: 0.002, samples: 500, summary: 'recovered: error rate 0.20 % < 1.00 % over 500 requests' }),
        ),
        ev(7.2, 'recovered', { summary: 'recovered: error rate 0.20 % < 1.00 % over 500 requests' }),
      ],
    }),
    ctx: { deployed_at: '2026-06-01T11:00:00.000Z', from_known_good: null },
    outcome: 'recovered',
    decision: 'automatic',
    // Deployed after the detection (re-deployed later): a negative duration is never reported.
    durations: { time_to_detect_s: null, time_to_decide_s: 1.4, time_to_switch_s: 2, time_to_restore_s: 5.1, total_s: 7.2 },
    decisions: [
      { who: 'monitor', what: /^opened an incident$/, comment: criticalVerdict.summary },
      { who: 'system', what: /^rolled back automatically \(trigger table\)$/, comment: null },
    ],
    before: { source: 'reconfirmed', error_rate: 0.09, observed: 0.09 },
    after: { kind: 'healthy', observed: 0.002 },
    summary:
      /^A critical incident on customer-support .*; the system rolled back v2\.0\.0 → v1\.9\.0 automatically\. Recovery was verified 5\.1 s/,
    tests_answer: /^unknown — no baseline test recorded$/,
    suggestions: [/Record a baseline test result for every version/, /error rate above 5 %/, /staging for 24 h/],
    markdown: [/\| time to detect \(deploy → detection\) \| unknown \|/, /\| time to decide \(detection → automatic\) \| 1\.4 s \|/],
  },
  {
    name: 'high incident, approved after 95 s',
    view: view({
      requested_by: 'monitor',
      decided_by: 'bob',
      reason: highVerdict.summary,
      incident_rule: 'error_rate_high',
      default_action: 'roll back',
      tier: 1,
      ...incident(highVerdict),
      timeline: [
        ev(0, 'requested', { by: 'monitor', reason: highVerdict.summary, mode: 'immediate' }),
        ev(0.1, 'detected', { ...highVerdict }),
        ev(0.2, 'awaiting_approval', { deadline: at(300), tier: 1, default_action: 'roll back', verdict: highVerdict.summary }),
        paged(0.3, 'Decision needed for customer-support'),
        ev(95.1, 'approved', { by: 'bob', comment: 'execute rollback | v2 breaks refunds' }),
        ev(95.1, 'rolling_back', { decided_by: 'bob', mode: 'immediate' }),
        target(95.2),
        switched(95.6),
        notified(95.7),
        ev(100.6, 'verification_check', check(1)),
        ev(100.7, 'recovered', { summary: 'recovered: error rate 0.00 % < 1.00 % over 100 requests' }),
      ],
    }),
    ctx: { deployed_at: DEPLOYED, from_known_good: false },
    outcome: 'recovered',
    decision: 'approved',
    durations: { time_to_detect_s: 720.1, time_to_decide_s: 95, time_to_switch_s: 95.5, time_to_restore_s: 5.1, total_s: 100.7 },
    decisions: [
      { who: 'monitor', what: /^opened an incident$/ },
      { who: 'bob', what: /^approved the rollback/, comment: 'execute rollback | v2 breaks refunds' },
    ],
    before: { source: 'detected', error_rate: 0.03, observed: 0.03 },
    after: { kind: 'healthy', observed: 0 },
    summary: /^A high incident on customer-support .*; bob approved the rollback v2\.0\.0 → v1\.9\.0\. Recovery was verified/,
    tests_answer: /^no — v2\.0\.0 failed its baseline test$/,
    suggestions: [/canary/],
    markdown: [
      // A pipe in a comment does not break the table.
      /\| bob \| approved the rollback \("execute rollback"\) \| execute rollback \\\| v2 breaks refunds \|/,
      /\| time to decide \(detection → approved\) \| 1 min 35 s \|/,
      /\| trigger \| error_rate 3\.00 % vs threshold 2\.00 % \(error_rate_high\) over 200 requests in 300 s \|/,
    ],
  },
  {
    name: 'high incident, rejected to investigate',
    view: view({
      status: 'rejected',
      requested_by: 'monitor',
      decided_by: 'carol',
      from_version: null,
      to_version: null,
      reason: highVerdict.summary,
      incident_rule: 'error_rate_high',
      ...incident(highVerdict),
      timeline: [
        ev(0, 'requested', { by: 'monitor', reason: highVerdict.summary, mode: 'immediate' }),
        ev(0.1, 'detected', { ...highVerdict }),
        ev(0.2, 'awaiting_approval', { deadline: at(300), tier: 1, default_action: 'roll back', verdict: highVerdict.summary }),
        paged(0.3, 'Decision needed for customer-support'),
        ev(40.1, 'rejected', { by: 'carol', comment: 'upstream payment API is flaky, not the prompt' }),
        ev(40.2, 'notified', {
          channel: '#incidents',
          outbox_id: '3',
          title: 'Rollback rejected: customer-support',
          message: '…',
          links: {},
        }),
        ev(40.3, 'closed', { decided_by: 'carol' }),
      ],
    }),
    ctx: {},
    outcome: 'closed',
    decision: 'rejected',
    durations: { time_to_detect_s: null, time_to_decide_s: 40, time_to_switch_s: null, time_to_restore_s: null, total_s: 40.3 },
    decisions: [
      { who: 'monitor', what: /^opened an incident$/ },
      { who: 'carol', what: /^rejected the rollback \("investigate"\)$/, comment: 'upstream payment API is flaky, not the prompt' },
    ],
    before: { source: 'detected', error_rate: 0.03 },
    after: null,
    summary: /; carol rejected the rollback to investigate\. Nothing was switched\.$/,
    tests_answer: /^unknown — no baseline test recorded$/,
    suggestions: [/On-call chose to investigate/],
    markdown: [
      /# Post-mortem: customer-support \? → \? \(rollback 20260601-101200-abcd1234\)/,
      /Nothing was switched; the version serving was not recorded in this incident\./,
      /\| time to restore \(switch → recovered\) \| unknown \|/,
      /\| error rate \| 3\.00 % \| — \|/,
    ],
  },
  {
    name: 'latency incident, deadline passed, rolled back, not recovered (escalated)',
    view: view({
      status: 'escalated',
      severity: 'critical',
      requested_by: 'monitor',
      decided_by: 'system (decision deadline)',
      reason: latencyVerdict.summary,
      incident_rule: 'latency_p99_high',
      tier: 2,
      ...incident(latencyVerdict),
      timeline: [
        ev(0, 'requested', { by: 'monitor', reason: latencyVerdict.summary, mode: 'immediate' }),
        ev(0.1, 'detected', { ...latencyVerdict }),
        ev(0.2, 'awaiting_approval', { deadline: at(600), tier: 1, default_action: 'roll back', verdict: latencyVerdict.summary }),
        paged(0.3, 'Decision needed for customer-support'),
        ev(600.1, 'deadline_passed', { tier: 2, default_action: 'rollback' }),
        paged(600.2, 'ESCALATION tier 2: customer-support rolling back'),
        ev(600.5, 'reconfirmed', { ...latencyVerdict, observed: 3.2 }),
        ev(600.5, 'rolling_back', { decided_by: 'system (decision deadline)', mode: 'immediate' }),
        target(600.6),
        switched(601.1),
        notified(601.2),
        ...Array.from({ length: 12 }, (_, i) =>
          ev(
            606.1 + 5 * i,
            'verification_check',
            check(i + 1, { kind: 'breached', observed: 0.3, summary: 'not recovered: error rate 30.00 % ≥ 1.00 % over 100 requests' }),
          ),
        ),
        paged(661.2, 'ROLLBACK NOT RECOVERING: customer-support'),
        ev(661.3, 'not_recovered', { summary: 'not recovered: error rate 30.00 % ≥ 1.00 % over 100 requests' }),
      ],
    }),
    ctx: { deployed_at: DEPLOYED },
    outcome: 'not_recovered',
    decision: 'deadline',
    durations: { time_to_detect_s: 720.1, time_to_decide_s: 600, time_to_switch_s: 601, time_to_restore_s: null, total_s: 661.3 },
    decisions: [
      { who: 'monitor', what: /^opened an incident$/ },
      { who: 'system', what: /^no decision by the deadline: escalated to tier 2 and applied the default action \(roll back\)$/ },
    ],
    before: { source: 'reconfirmed', error_rate: null, observed: 3.2 },
    after: { kind: 'breached', observed: 0.3 },
    summary: /Metrics did not recover after the switch .*escalated to on-call as critical\.$/,
    tests_answer: /^unknown/,
    suggestions: [/decision deadline passed without an answer/, /over the seed's 5-minute goal/, /did not recover/, /Load-test/],
    markdown: [
      /\| time to switch \(detection → switch\) \| 10 min 1 s \|/,
      /\| judged \| latency_p99_ratio 3\.20× \(threshold 2\.00×, baseline p99 800 ms\) \|/,
    ],
  },
  {
    name: 'operator rollback, verification inconclusive (no traffic on the target)',
    view: view({
      timeline: [
        ev(0, 'requested', { by: 'alice', reason: 'manual rollback', mode: 'immediate' }),
        target(0.1),
        ev(0.2, 'metrics_before', {
          version: 'v2.0.0',
          requests: 0,
          errors: 0,
          error_rate: null,
          latency_ms: { p50: null, p95: null, p99: null },
          quality_mean: null,
          quality_samples: 0,
          window_s: 300,
        }),
        switched(0.3),
        notified(0.4),
        ...Array.from({ length: 12 }, (_, i) =>
          ev(
            5.3 + 5 * i,
            'verification_check',
            check(i + 1, {
              kind: 'inconclusive',
              observed: null,
              samples: 2,
              summary: 'inconclusive: 2 request(s) in 60 s, at least 10 needed',
            }),
          ),
        ),
        ev(60.4, 'notified', { channel: '#incidents', title: 'ROLLBACK UNVERIFIED: customer-support', message: '…' }),
        ev(60.5, 'verification_inconclusive', { summary: 'inconclusive: 2 request(s) in 60 s, at least 10 needed' }),
      ],
    }),
    ctx: { deployed_at: null },
    outcome: 'verification_inconclusive',
    decision: 'operator',
    durations: { time_to_detect_s: null, time_to_decide_s: 0, time_to_switch_s: 0.3, time_to_restore_s: null, total_s: 60.5 },
    decisions: [{ who: 'alice', what: /^requested immediate rollback to v1\.9\.0$/ }],
    before: { source: 'metrics_before', error_rate: null },
    after: { kind: 'inconclusive', observed: null },
    summary: /Traffic was switched, but recovery could not be verified: inconclusive: 2 request\(s\)/,
    tests_answer: /^unknown/,
    suggestions: [/Verification saw too little traffic/],
    markdown: [/\| verdict \| — \| inconclusive \|/, /\| summary \| no requests in 300 s \|/],
  },
];

describe('buildPostMortem (seed runbook step 5: document what happened, plan prevention)', () => {
  it.each(cases)('$name', (c) => {
    const pm = buildPostMortem(c.view, c.ctx);
    expect(pm.outcome).toBe(c.outcome);
    expect(pm.status).toBe(c.view.status);
    expect(pm.decision).toBe(c.decision);
    expect({
      time_to_detect_s: pm.time_to_detect_s,
      time_to_decide_s: pm.time_to_decide_s,
      time_to_switch_s: pm.time_to_switch_s,
      time_to_restore_s: pm.time_to_restore_s,
      total_s: pm.total_s,
    }).toEqual(c.durations);

    expect(pm.decisions).toHaveLength(c.decisions.length);
    c.decisions.forEach((d, i) => {
      const got = pm.decisions[i]!;
      expect(got.who).toBe(d.who);
      expect(got.what).toMatch(d.what);
      if (d.comment !== undefined) expect(got.comment).toBe(d.comment);
    });

    if (c.before === null) expect(pm.metrics_before).toBeNull();
    else {
      expect(pm.metrics_before).toMatchObject({ source: c.before.source, error_rate: c.before.error_rate });
      if (c.before.observed !== undefined) expect(pm.metrics_before?.observed).toBe(c.before.observed);
    }
    if (c.after === null) expect(pm.metrics_after).toBeNull();
    else expect(pm.metrics_after).toMatchObject({ source: 'verification_check', version: 'v1.9.0', ...c.after });

    expect(pm.summary).toMatch(c.summary);
    expect(pm.timeline).toEqual(c.view.timeline);
    expect(pm.questions.map((q) => q.id)).toEqual(['what_changed', 'did_it_pass_tests', 'how_to_prevent']);
    expect(pm.questions[1]!.answer).toMatch(c.tests_answer);
    const suggestions = pm.questions[2]!.suggestions.join('\n');
    for (const s of c.suggestions) expect(suggestions).toMatch(s);

    const md = renderPostMortemMarkdown(pm);
    for (const section of ['## Summary', '## Impact', '## Timeline', '## Decisions', '## Metrics before and after', '## Questions']) {
      expect(md).toContain(`\n${section}\n`);
    }
    expect(md).toContain('| time | event | detail |');
    // Every timeline entry is a row of the table, in order.
    const rows = md.split('\n').filter((l) => /^\| \d{4}-\d\d-\d\dT/.test(l) && !l.includes('| rollback |'));
    expect(rows.slice(0, c.view.timeline.length).map((r) => r.split(' | ')[1])).toEqual(c.view.timeline.map((e) => e.event));
    expect(md).toMatch(/### 1\. What changed in .* that caused the regression\?\n/);
    expect(md).toMatch(/### 2\. Did .* pass its tests\? \(If yes, why didn't the tests catch it\?\)\n/);
    expect(md).toContain('### 3. How do we prevent this next time?');
    expect(md).toContain('**Action items, each with an owner and a due date.** _to be answered_');
    expect(md).toMatch(/\*\*Answer:\*\* _to be answered_/); // what changed: people answer it
    for (const m of c.markdown) expect(md).toMatch(m);
  });

  it('never invents a number: a view with no timeline has null durations and no metrics', () => {
    const pm = buildPostMortem(view({ status: 'failed', timeline: [] }));
    expect(pm).toMatchObject({
      outcome: 'failed',
      time_to_detect_s: null,
      time_to_switch_s: null,
      time_to_restore_s: null,
      total_s: null,
      metrics_before: null,
      metrics_after: null,
      decisions: [],
      audit: [],
    });
    const md = renderPostMortemMarkdown(pm);
    expect(md).toContain('| — | — | no events recorded |');
    expect(md).toContain('No metrics were recorded before or after.');
    expect(md).toContain('No decisions were recorded.');
  });

  it('times the switch by its commit, not by when the workflow recorded it (a switch made inside the task records the task’s start)', () => {
    const pm = buildPostMortem(
      view({
        status: 'completed',
        requested_by: 'alice',
        timeline: [
          ev(0, 'requested', { by: 'alice', reason: 'errors' }),
          ev(0.02, 'switched', { from_version: 'v2.0.0', to_version: 'v1.9.0', at: at(0.7) }),
          ev(60.7, 'recovered', {}),
          ev(60.7, 'completed', {}),
        ],
      }),
    );
    expect(pm.switched_at).toBe(at(0.7));
    expect(pm.time_to_switch_s).toBeCloseTo(0.7, 3);
    expect(pm.time_to_restore_s).toBeCloseTo(60, 3);
  });

  it('a failed switch is the outcome even when a page follows it', () => {
    const pm = buildPostMortem(
      view({
        status: 'escalated',
        severity: 'critical',
        timeline: [
          ev(0, 'requested', { by: 'alice', reason: 'manual rollback', mode: 'immediate' }),
          target(0.1),
          ev(20, 'switch_failed', { error: 'database is locked', type: 'Error' }),
          paged(20.1, 'ROLLBACK FAILED: customer-support'),
        ],
      }),
    );
    expect(pm.outcome).toBe('switch_failed');
    expect(pm.switched_at).toBeNull();
    expect(pm.summary).toMatch(/The switch failed \(database is locked\); traffic stayed on v2\.0\.0/);
  });

  it('a coordinated rollback undone on a related prompt is not mistaken for a reject', () => {
    const pm = buildPostMortem(
      view({
        status: 'escalated',
        severity: 'critical',
        group: {
          members: [{ prompt: 'billing', from_version: 'b2', to_version: 'b1', summary: 'error rate 4.00 %', switched: false }],
          not_joining: [{ prompt: 'faq', why: 'healthy' }],
        },
        timeline: [
          ev(0, 'requested', { by: 'alice', reason: 'manual rollback', mode: 'immediate' }),
          target(0.1),
          ev(0.2, 'group_planned', { members: [], not_joining: [] }),
          ev(1, 'group_failed_compensated', { failed: 'billing', error: 'database is locked', undone: ['customer-support'] }),
          paged(1.1, 'GROUP ROLLBACK FAILED: customer-support'),
          ev(1.2, 'closed', {}),
        ],
      }),
    );
    expect(pm.outcome).toBe('group_failed_compensated');
    expect(pm.summary).toMatch(/coordinated rollback failed on billing \(database is locked\); every switch was undone/);
    expect(pm.questions[0]!.known).toEqual(
      expect.arrayContaining([
        'Related prompt billing was to roll back with it: b2 → b1 (error rate 4.00 %).',
        'Related prompt faq did not join: healthy.',
      ]),
    );
  });

  it('a medium incident that cleared after observing records who cleared it and why', () => {
    const medium = verdict({
      rule: 'quality_drop_medium',
      metric: 'quality_drop',
      threshold: 0.1,
      observed: 0.12,
      severity: 'medium',
      action: 'observe',
    });
    const pm = buildPostMortem(
      view({
        status: 'cleared',
        severity: 'medium',
        requested_by: 'monitor',
        from_version: null,
        to_version: null,
        ...incident(medium),
        incident_rule: 'quality_drop_medium',
        timeline: [
          ev(0, 'requested', { by: 'monitor', reason: medium.summary, mode: 'immediate' }),
          ev(0.1, 'detected', { ...medium }),
          ev(0.2, 'observing', { deadline: at(3600), tier: 1 }),
          ev(3600.1, 'observation_ended', { ...medium, kind: 'healthy', observed: 0.01, summary: 'healthy: error rate 0.40 %' }),
          ev(3600.2, 'cleared', { why: 'healthy: error rate 0.40 %' }),
        ],
      }),
    );
    expect(pm.decision).toBe('cleared');
    expect(pm.time_to_decide_s).toBe(3600.1);
    expect(pm.metrics_before).toMatchObject({ source: 'detected', kind: 'breached', metric: 'quality_drop', observed: 0.12 });
    expect(pm.decisions.at(-1)).toMatchObject({ who: 'system', what: 'cleared without a rollback', comment: 'healthy: error rate 0.40 %' });
    expect(pm.summary).toMatch(/cleared without a rollback: healthy: error rate 0\.40 %\.$/);
    expect(pm.questions[2]!.suggestions.join('\n')).toMatch(/A\/B test/);
  });

  it('names who paused, resumed and aborted a gradual rollback', () => {
    const pm = buildPostMortem(
      view({
        status: 'failed',
        mode: 'gradual',
        timeline: [
          ev(0, 'requested', { by: 'alice', reason: 'minor regression', mode: 'gradual' }),
          target(0.1),
          ev(0.2, 'gradual_started', { stages: [], check_interval_s: 60, max_error_rate: 0.02 }),
          ev(120, 'paused', { stage: 0, reason: 'error rate 3.00 % > 2.00 % over 50 requests' }),
          ev(180, 'resumed', { stage: 0 }),
          ev(240, 'paused', { stage: 1, reason: 'paused by dave' }),
          ev(300, 'aborted', { by: 'dave', traffic: 'all traffic back on v2.0.0' }),
        ],
      }),
    );
    expect(pm.outcome).toBe('aborted');
    expect(pm.decisions.map((d) => [d.who, d.what])).toEqual([
      ['alice', 'requested gradual rollback to v1.9.0'],
      ['system', 'paused the gradual rollback at stage 1'],
      ['not recorded', 'resumed the gradual rollback'],
      ['dave', 'paused the gradual rollback at stage 2'],
      ['dave', 'aborted the gradual rollback'],
    ]);
    expect(pm.summary).toMatch(/aborted by dave; all traffic back on v2\.0\.0\.$/);
  });

  it('reports the rollback target’s baseline test from the timeline', () => {
    const pm = buildPostMortem(
      view({
        timeline: [
          ev(0, 'requested', { by: 'alice', reason: 'r', mode: 'immediate' }),
          ev(0.1, 'target_selected', {
            from_version: 'v2.0.0',
            to_version: 'v1.9.0',
            skipped: [],
            baseline_test: { passed: true, score: 0.81, detail: 'accuracy 81 % ≥ 75 %', evaluator: 'metrics-history' },
          }),
        ],
      }),
    );
    expect(pm.questions[1]!.known).toEqual(['Rollback target v1.9.0 baseline test: passed (accuracy 81 % ≥ 75 %).']);
  });

  it('a named target tested after the switch: the test is read from its own event', () => {
    const pm = buildPostMortem(
      view({
        timeline: [
          ev(0, 'requested', { by: 'alice', reason: 'r', mode: 'immediate' }),
          ev(0.1, 'target_selected', { from_version: 'v2.0.0', to_version: 'v1.9.0', skipped: [], baseline_test: null }),
          ev(0.2, 'switched', {
            from_version: 'v2.0.0',
            to_version: 'v1.9.0',
            at: '2026-06-01T10:00:00.200Z',
            marked_rolled_back_from: true,
          }),
          ev(3, 'baseline_tested', {
            version: 'v1.9.0',
            evaluator: 'http-suite',
            passed: false,
            score: 0,
            detail: 'failed: accuracy 0.0 % (0/1) < 75 %',
          }),
        ],
      }),
    );
    expect(pm.questions[1]!.known).toEqual(['Rollback target v1.9.0 baseline test: failed (failed: accuracy 0.0 % (0/1) < 75 %).']);
  });

  it('an incident recorded without `trigger` takes it from its detection verdict', () => {
    const pm = buildPostMortem(
      view({
        requested_by: 'monitor',
        timeline: [ev(0, 'requested', { by: 'monitor', reason: 'r', mode: 'immediate' }), ev(0.1, 'detected', { ...latencyVerdict })],
      }),
    );
    expect(pm.trigger).toEqual({
      metric: 'latency_p99_ratio',
      threshold: 2,
      observed: 3,
      window_s: 300,
      samples: 200,
      rule: 'latency_p99_high',
    });
    expect(buildPostMortem(view({ timeline: [] })).trigger).toBeNull();
  });

  it('a template excerpt with backticks gets a longer fence', () => {
    const pm = buildPostMortem(view({ timeline: [] }), { from_template_excerpt: 'Answer in ```json``` only.' });
    expect(renderPostMortemMarkdown(pm)).toContain('````\nAnswer in ```json``` only.\n````');
  });
});

describe('durations', () => {
  it.each<[string | null, string | null, number | null]>([
    ['2026-06-01T10:00:00.000Z', '2026-06-01T10:00:05.250Z', 5.25],
    ['2026-06-01T10:00:00.000Z', '2026-06-01T10:00:00.000Z', 0],
    ['2026-06-01T10:00:05.000Z', '2026-06-01T10:00:00.000Z', null],
    [null, '2026-06-01T10:00:00.000Z', null],
    ['not a time', '2026-06-01T10:00:00.000Z', null],
  ])('%s → %s = %s', (a, b, s) => {
    expect(secondsBetween(a, b)).toBe(s);
  });

  it.each<[number | null, string]>([
    [null, 'unknown'],
    [0, '0 s'],
    [4.25, '4.3 s'],
    [95, '1 min 35 s'],
    [3600, '1 h 0 min'],
    [90061, '1 d 1 h'],
  ])('%s s reads as %s', (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });
});

describe('post-mortem of a gradual rollback decided over the API', () => {
  it('names who paused and resumed (the API actor) and the critical breach that cut the stages short', () => {
    const pm = buildPostMortem(
      view({
        mode: 'gradual',
        status: 'completed',
        timeline: [
          ev(0, 'requested', { by: 'alice', reason: 'minor regression', mode: 'gradual' }),
          ev(1, 'gradual_started', { stages: [], check_interval_s: 60, max_error_rate: 0.02 }),
          ev(60, 'pause_requested', { by: 'carol', via: 'api' }),
          ev(61, 'paused', { stage: 0, reason: 'paused by carol' }),
          ev(120, 'resume_requested', { by: 'dave', via: 'api' }),
          ev(121, 'resumed', { stage: 0 }),
          ev(200, 'gradual_cut_short', {
            ...verdict({ severity: 'critical' }),
            summary: 'critical: error rate 12.00 %',
            traffic: 'all traffic to v1.9.0 now',
          }),
          switched(201),
          ev(262, 'recovered', { summary: 'recovered' }),
        ],
      }),
    );
    const who = pm.decisions.map((d) => [d.who, d.what]);
    expect(who).toEqual(
      expect.arrayContaining([
        ['dave', 'resumed the gradual rollback (API)'],
        ['system', 'cut the gradual stages short: all traffic to v1.9.0 now'],
      ]),
    );
    expect(who).not.toContainEqual(['not recorded', 'resumed the gradual rollback']);
    expect(pm.decisions.find((d) => d.what.startsWith('cut the gradual'))?.comment).toBe('critical: error rate 12.00 %');
  });
});
