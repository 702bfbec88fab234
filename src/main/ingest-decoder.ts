import type { BatchDecoder } from '../adapters/metrics/ingest-thread';
import { SqlRegistry } from '../adapters/registry/sql';
import { openDb } from '../adapters/sql/db';
import { KnownVersions, requireKnownVersions } from '../api/known-versions';
import { decodeMetricBatchBytes, promptsWithErrors } from '../api/metric-batch';
import { problemOf } from '../api/problem';
import { systemClock } from '../ports/clock';

/** Where the ingest thread loads its decoder from (this module), as a path the thread can require. */
export const INGEST_DECODER_MODULE = __filename;

/**
 * Loaded in the metrics ingest thread: decodes `POST /api/metrics` bodies exactly as the API would (the same parser,
 * body guard and validation), and refuses a batch naming a prompt or version the registry does not know — read over
 * a connection of the thread's own (one; the metrics connection when registry and metrics share a database).
 */
export async function createBatchDecoder(options: Record<string, unknown>): Promise<{ decode: BatchDecoder; close(): Promise<void> }> {
  const db = await openDb(String(options.registryUrl), { poolMax: 1 });
  const registry = new SqlRegistry(db.kysely, systemClock);
  const known = new KnownVersions();
  const decode: BatchDecoder = async (body, receivedAtMs) => {
    try {
      const events = decodeMetricBatchBytes(body, new Date(receivedAtMs));
      await requireKnownVersions(registry, events, known);
      return { events, prompts_with_errors: promptsWithErrors(events) };
    } catch (e) {
      const refused = problemOf(e);
      if (refused) return { refused };
      throw e;
    }
  };
  return { decode, close: () => db.close() };
}
