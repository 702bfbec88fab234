import fs from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { SEARCH_ATTRIBUTES } from '../workflows/messages';
import type { Config } from './config';

type TlsOption = NonNullable<ConnectionOptions['tls']>;

/** TLS and API key from the configuration, in the shape both the client and the worker connection take. */
function security(config: Pick<Config, 'temporal'>): { tls?: TlsOption; apiKey?: string } {
  const t = config.temporal;
  if (!t.tls && !t.apiKey) return {};
  const read = (file: string | undefined): Buffer | undefined => (file ? fs.readFileSync(file) : undefined);
  const tls: TlsOption = {
    ...(t.tls?.serverName ? { serverNameOverride: t.tls.serverName } : {}),
    ...(t.tls?.caPath ? { serverRootCACertificate: read(t.tls.caPath) } : {}),
    ...(t.tls?.certPath && t.tls.keyPath ? { clientCertPair: { crt: read(t.tls.certPath)!, key: read(t.tls.keyPath)! } } : {}),
  };
  return { tls, ...(t.apiKey ? { apiKey: t.apiKey } : {}) };
}

export function clientConnectionOptions(config: Pick<Config, 'temporal'>, address: string): ConnectionOptions {
  return { address, ...security(config) };
}

export function workerConnectionOptions(config: Pick<Config, 'temporal'>, address: string): NativeConnectionOptions {
  return { address, ...security(config) };
}

/**
 * Registers the search attributes promptback writes (PromptName, RollbackSeverity, RollbackState) on a cluster
 * that lacks them. The dev server `npm start` runs has them already; on a cluster where the SDK may not register
 * them (Temporal Cloud), fail with the exact command that does.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string, log: Logger): Promise<void> {
  const wanted = SEARCH_ATTRIBUTES.map((k) => k.name);
  const how = `register them once with: ${wanted
    .map((n) => `temporal operator search-attribute create --namespace ${namespace} --name ${n} --type Keyword`)
    .join(' && ')} (Temporal Cloud: tcld namespace search-attributes add)`;
  let existing: string[];
  try {
    const r = await connection.operatorService.listSearchAttributes({ namespace });
    existing = [...Object.keys(r.customAttributes ?? {}), ...Object.keys(r.systemAttributes ?? {})];
  } catch (e) {
    throw new Error(`could not list the search attributes of namespace ${namespace}: ${(e as Error).message}; ${how}`);
  }
  const missing = wanted.filter((n) => !existing.includes(n));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((n) => [n, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
    });
    log.info({ namespace, registered: missing }, 'registered search attributes');
  } catch (e) {
    throw new Error(
      `search attributes ${missing.join(', ')} are missing in namespace ${namespace} and could not be registered (${(e as Error).message}); ${how}`,
    );
  }
}
