import type { SendOutcome } from '../../ports/notifier';

/**
 * POSTs a JSON body and classifies the answer: 2xx sent; 408, 429, 5xx, timeouts and network errors are worth
 * another try; any other 4xx is the receiver refusing this request, which a retry would not change.
 */
export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<SendOutcome> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'promptback', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const reason =
      err.name === 'TimeoutError' || err.name === 'AbortError'
        ? `no answer within ${Math.round(timeoutMs / 100) / 10} s`
        : `${err.cause?.code ?? err.name ?? 'Error'}: ${err.cause?.message ?? err.message ?? 'request failed'}`;
    return { ok: false, retryable: true, reason };
  }
  const text = await res.text().catch(() => '');
  if (res.status >= 200 && res.status < 300) return { ok: true, http_status: res.status };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return {
    ok: false,
    retryable,
    http_status: res.status,
    reason: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${snippet ? `: ${snippet}` : ''}`,
  };
}
