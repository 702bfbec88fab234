import type { Severity } from '../../domain/severity';
import { CHANNEL_NAMES, type ChannelName, type Lifecycle, type PromptNotify } from '../../ports/notifier';

/** Which channels hear about events of each severity. */
export type Routes = Record<Severity, ChannelName[]>;

/** An operator's own rollback (severity `manual`) informs the channels; its failure pages as critical anyway. */
export const DEFAULT_ROUTES_TEXT =
  'critical=pagerduty+slack+webhook,high=pagerduty+slack+webhook,medium=slack+webhook,low=slack+webhook,manual=slack+webhook';

/** `critical=pagerduty+slack+webhook,high=…,medium=…,low=…`: an omitted severity keeps its default. Throws naming the bad part. */
export function parseRoutes(text: string): Routes {
  const routes: Routes = { critical: [], high: [], medium: [], low: [], manual: [] };
  const parts = (s: string) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
  const apply = (s: string, strict: boolean) => {
    for (const part of parts(s)) {
      const [sev, list = ''] = part.split('=');
      if (!sev || !(sev in routes)) {
        if (strict) throw new Error(`"${part}": severity must be critical, high, medium, low or manual`);
        continue;
      }
      const channels = list
        .split('+')
        .map((c) => c.trim())
        .filter(Boolean);
      for (const c of channels) {
        if (!CHANNEL_NAMES.includes(c as ChannelName)) throw new Error(`"${part}": channel "${c}" is not pagerduty, slack or webhook`);
      }
      routes[sev as Severity] = [...new Set(channels as ChannelName[])];
    }
  };
  apply(DEFAULT_ROUTES_TEXT, false);
  apply(text, true);
  return routes;
}

/**
 * A prompt's routes: the severities its `notify.routes` names, the global routes for the rest. No override (a prompt
 * with no owner and no settings, or one not in the registry) is the global routes.
 */
export function routesFor(global: Routes, notify: PromptNotify | null | undefined): Routes {
  const own = notify?.routes;
  if (!own) return global;
  const routes = { ...global };
  for (const s of Object.keys(routes) as Severity[]) {
    const channels = own[s];
    if (!channels) continue;
    // A stored critical route is never empty (the API refuses it); should one be, critical keeps the global route.
    if (s === 'critical' && channels.length === 0) continue;
    routes[s] = channels.filter((c) => CHANNEL_NAMES.includes(c));
  }
  return routes;
}

const LIFECYCLES: readonly Lifecycle[] = ['trigger', 'acknowledge', 'resolve'];

/**
 * The PagerDuty lifecycle of a notification: `data.lifecycle` when the workflow set it; otherwise a page, or any
 * critical notification, triggers; other alerts are not incidents.
 */
export function lifecycleOf(n: { kind: string; severity: string; data: Record<string, unknown> }): Lifecycle | undefined {
  const asked = n.data.lifecycle;
  if (typeof asked === 'string' && LIFECYCLES.includes(asked as Lifecycle)) return asked as Lifecycle;
  if (n.kind === 'page' || n.severity === 'critical') return 'trigger';
  return undefined;
}

/**
 * The channels an event goes to. PagerDuty hears only incident lifecycle: a trigger where the severity routes
 * to it, and acknowledge/resolve when this rollback has a PagerDuty incident to act on.
 */
export function channelsFor(
  e: { severity: Severity; lifecycle: Lifecycle | undefined },
  routes: Routes,
  hasPagerDutyIncident: boolean,
): ChannelName[] {
  const routed = routes[e.severity] ?? [];
  const out = routed.filter((c) => c !== 'pagerduty');
  const pd =
    (e.lifecycle === 'trigger' && routed.includes('pagerduty')) ||
    ((e.lifecycle === 'acknowledge' || e.lifecycle === 'resolve') && hasPagerDutyIncident);
  return pd ? ['pagerduty', ...out] : out;
}
