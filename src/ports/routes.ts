import type { TrafficShare } from '../domain/traffic';

/** What `resolve` needs for one prompt: its split and the templates of the versions in it. */
export interface Route {
  split: TrafficShare[];
  templates: Record<string, string>;
}

/** The serving hot path's source: answered from memory, never stale once a switch is committed. */
export interface RouteSource {
  /** Undefined for an unknown prompt; an empty split when nothing is deployed. */
  get(prompt: string): Promise<Route | undefined>;
}
