import type { TrafficShare } from '../domain/traffic';

/** What `resolve` answers for one request key. */
export interface Resolved {
  readonly version: string;
  readonly template: string;
}

/** What `resolve` needs for one prompt: its split, and the answer for each version in it. */
export interface Route {
  readonly split: readonly TrafficShare[];
  /**
   * One frozen answer per version in the split. The same objects are returned for as long as the route stands,
   * so a caller may memoize on their identity (the HTTP fast path keeps each one's JSON body).
   */
  readonly answers: Readonly<Record<string, Resolved>>;
}

/** The serving hot path's source: answered from memory, never stale once a switch is committed. */
export interface RouteSource {
  /**
   * Undefined for an unknown prompt; an empty split when nothing is deployed. Reflects every commit made before
   * the call, by this process or any other sharing the store.
   */
  get(prompt: string): Promise<Route | undefined>;
}
