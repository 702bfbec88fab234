import net from 'node:net';

/** A free loopback port, from the OS. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Ports handed out already in this process: probing frees a port, so two calls could otherwise return the same one. */
const given = new Set<number>();

/**
 * A free loopback port below 32768: Temporal's cluster membership table keeps ports in a Postgres smallint, which
 * the OS's ephemeral range (32768+) overflows.
 */
export async function freeLowPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    if (given.has(candidate)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(candidate, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) {
      given.add(candidate);
      return candidate;
    }
  }
  throw new Error('no free loopback port below 32768');
}
