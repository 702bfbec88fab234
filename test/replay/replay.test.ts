import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it, inject } from 'vitest';
import { quietRuntime } from '../support/runtime';

const DIR = path.join(__dirname, 'histories');
const UNREPLAYABLE = path.join(__dirname, 'unreplayable');
const jsonIn = (dir: string): string[] =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];
const files = jsonIn(DIR);

/**
 * What the corpus must exercise: every message a person, a monitor or a child sends, every workflow type and
 * every `patched()` id. Extend these lists when a message, workflow or patch is added, then record a scenario
 * that uses it (`npx tsx test/replay/record.ts <scenario>`).
 */
const REQUIRED = {
  signals: ['approve', 'reject', 'breach', 'pause', 'resume', 'abort', 'progress', 'check-now', 'stop', 'finish-now'],
  updates: ['approve', 'reject', 'pause', 'resume', 'abort'],
  workflowTypes: [
    'rollbackWorkflow',
    'gradualRollbackWorkflow',
    'monitorWorkflow',
    'canaryWorkflow',
    'retentionWorkflow',
    'reconcileWorkflow',
    'storageWorkflow',
  ],
  patches: [
    'rollback-v2',
    'medium-observe-gradual',
    'coordinated-rollback',
    'metrics-unreadable',
    'lean-history',
    'switch-in-one-step',
    'monitor-local-check',
    'switch-in-task',
    'monitor-check-loop',
    'named-test-after-switch',
    'wait-for-store',
    'page-store-wait-at-once',
  ],
};

interface HistoryEvent {
  workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } };
  startChildWorkflowExecutionInitiatedEventAttributes?: { workflowType?: { name?: string } };
  workflowExecutionSignaledEventAttributes?: { signalName?: string };
  signalExternalWorkflowExecutionInitiatedEventAttributes?: { signalName?: string };
  workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest?: { input?: { name?: string } } };
  markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads?: { data?: string }[] }> };
}

/** The messages, workflow types and patch ids one recorded history holds. */
function contents(history: { events?: HistoryEvent[] }): Record<keyof typeof REQUIRED, Set<string>> {
  const found = { signals: new Set<string>(), updates: new Set<string>(), workflowTypes: new Set<string>(), patches: new Set<string>() };
  const add = (set: Set<string>, name: string | undefined): void => {
    if (name) set.add(name);
  };
  for (const e of history.events ?? []) {
    add(found.workflowTypes, e.workflowExecutionStartedEventAttributes?.workflowType?.name);
    add(found.workflowTypes, e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name);
    add(found.signals, e.workflowExecutionSignaledEventAttributes?.signalName);
    add(found.signals, e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName);
    add(found.updates, e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name);
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_patch') {
      const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
      if (data) add(found.patches, (JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id?: string }).id);
    }
  }
  return found;
}

const read = (file: string): { events?: HistoryEvent[] } => JSON.parse(fs.readFileSync(file, 'utf8')) as { events?: HistoryEvent[] };

async function replay(file: string): Promise<void> {
  quietRuntime();
  await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, read(file));
}

/**
 * Every recorded history replays with today's workflow code. A change to workflow logic that is not
 * behind `patched()` makes this fail, before it can break a rollback that is running in production.
 */
describe('replay of recorded workflow histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  it.each(files)('%s replays deterministically', async (file) => {
    try {
      await replay(path.join(DIR, file));
    } catch (e) {
      throw new Error(`history ${file} does not replay with the current workflow code: ${(e as Error).message}`);
    }
  });

  it('the required lists name every message defined in messages.ts and every patch id in the workflows', () => {
    const src = path.join(__dirname, '../../src/workflows');
    const messages = fs.readFileSync(path.join(src, 'messages.ts'), 'utf8');
    const defined = (kind: 'Signal' | 'Update'): string[] =>
      [...messages.matchAll(new RegExp(`define${kind}\\b[^(]*\\(\\s*'([^']+)'`, 'g'))].map((m) => m[1]!);
    const sources = fs
      .readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => fs.readFileSync(path.join(src, f), 'utf8'))
      .join('\n');
    const patchIds = [...sources.matchAll(/(?:patched|deprecatePatch)\(\s*'([^']+)'/g)].map((m) => m[1]!);
    expect(
      {
        signals: defined('Signal').filter((n) => !REQUIRED.signals.includes(n)),
        updates: defined('Update').filter((n) => !REQUIRED.updates.includes(n)),
        patches: [...new Set(patchIds)].filter((n) => !REQUIRED.patches.includes(n)),
      },
      'add these to REQUIRED and record a scenario that uses them',
    ).toEqual({ signals: [], updates: [], patches: [] });
  });

  it.each(Object.keys(REQUIRED) as (keyof typeof REQUIRED)[])('the corpus covers every required %s', (kind) => {
    const covered = new Set<string>();
    for (const f of files) for (const name of contents(read(path.join(DIR, f)))[kind]) covered.add(name);
    expect(
      REQUIRED[kind].filter((name) => !covered.has(name)),
      `${kind} no recorded history exercises`,
    ).toEqual([]);
  });
});

/**
 * Histories that no code can replay together with the corpus, kept so the choice stays visible: the v1 body
 * follows the last release (607b05b's decision fixes). A pre-607b05b incident that got a non-worse `breach`
 * re-paged; one of the last release did not; neither history holds a marker, so no `patched()` can tell them
 * apart. Making one of these replay breaks its counterpart in histories/ (v1-0546e5c-…).
 */
describe('histories kept as known non-replayable', () => {
  it.each(jsonIn(UNREPLAYABLE))('%s still fails replay with a nondeterminism error', async (file) => {
    await expect(replay(path.join(UNREPLAYABLE, file))).rejects.toThrow(/TMPRL1100/);
  });
});
