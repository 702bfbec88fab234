import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isDomainError } from '../domain/errors';
import { sendProblem } from './problem';
import type { PromptbackService } from './service';

export interface SlackActionsOptions {
  /** Slack app's signing secret; undefined: the route answers that it is not configured. */
  signingSecret: string | undefined;
  /** Slack user id → the name decisions are recorded under; others are `slack:<user id>`. */
  users: Readonly<Record<string, string>>;
  service: Pick<PromptbackService, 'decide'>;
  log: Logger;
  /** Why an error means the store cannot be used right now, or undefined: the person is told to press again. */
  storeOutage?: (err: unknown) => string | undefined;
  /** Slack wants an answer within 3 s; a decision that takes longer is answered at response_url. */
  answerWithinMs?: number;
  responseUrlTimeoutMs?: number;
}

/** Slack refuses requests signed more than 5 minutes away from now (replays). */
const MAX_SKEW_S = 300;
const PATH = '/api/integrations/slack/actions';

const interaction = z.object({
  type: z.string(),
  user: z.object({ id: z.string().min(1), username: z.string().optional(), name: z.string().optional() }),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).default([]),
  response_url: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
    .optional(),
});

/**
 * Why a request is not Slack's, or undefined when it is: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret,
 * "v0:{timestamp}:{raw body}")>` with `X-Slack-Request-Timestamp` within 5 minutes, compared in constant time.
 */
export function slackSignatureProblem(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  rawBody: Buffer,
  nowS: number,
): string | undefined {
  if (!timestamp || !signature) return 'send X-Slack-Request-Timestamp and X-Slack-Signature (Slack signs every request)';
  if (!/^\d{1,12}$/.test(timestamp)) return 'X-Slack-Request-Timestamp is not a Unix time in seconds';
  if (Math.abs(nowS - Number(timestamp)) > MAX_SKEW_S) return 'X-Slack-Request-Timestamp is more than 5 minutes from now (a replay?)';
  const expected = Buffer.from(
    `v0=${createHmac('sha256', secret)
      .update(Buffer.concat([Buffer.from(`v0:${timestamp}:`), rawBody]))
      .digest('hex')}`,
  );
  const got = Buffer.from(signature);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return 'X-Slack-Signature does not match the request';
  return undefined;
}

interface SlackAnswer {
  replace_original: false;
  response_type: 'ephemeral';
  text: string;
}
const answer = (text: string): SlackAnswer => ({ replace_original: false, response_type: 'ephemeral', text });

/**
 * POST /api/integrations/slack/actions: Slack's interactivity request for the Approve / Reject buttons of an
 * incident message. The signature is the authentication (Slack sends no bearer token), so the body is read raw
 * (the signature covers its bytes) before any JSON parsing. The decision goes through the API's own use case;
 * Slack is answered 200 with what happened — approved by whom, or the refusal in the API's 409 words.
 */
export function slackActions(opts: SlackActionsOptions): [string, RequestHandler, RequestHandler] {
  const answerWithinMs = opts.answerWithinMs ?? 2500;
  const responseUrlTimeoutMs = opts.responseUrlTimeoutMs ?? 3000;
  const { log } = opts;

  const postToResponseUrl = (url: string | undefined, body: SlackAnswer): void => {
    if (!url) return;
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(responseUrlTimeoutMs),
    }).then(
      (r) => {
        if (!r.ok) log.warn({ status: r.status }, 'Slack response_url refused the decision answer');
        return r.body?.cancel();
      },
      (err: unknown) => log.warn({ err }, 'Slack response_url did not take the decision answer'),
    );
  };

  const handler = (req: Request, res: Response): void => {
    const secret = opts.signingSecret;
    if (secret === undefined) {
      return sendProblem(
        res,
        404,
        'Not configured',
        'Slack interactivity is not configured: set SLACK_SIGNING_SECRET to the Slack app signing secret',
      );
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const why = slackSignatureProblem(
      secret,
      req.header('x-slack-request-timestamp'),
      req.header('x-slack-signature'),
      raw,
      Math.floor(Date.now() / 1000),
    );
    if (why) return sendProblem(res, 401, 'Unauthorized', why);

    const field = new URLSearchParams(raw.toString('utf8')).get('payload');
    let parsed: z.SafeParseReturnType<unknown, z.infer<typeof interaction>> | undefined;
    try {
      parsed = field === null ? undefined : interaction.safeParse(JSON.parse(field));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      const message = parsed
        ? parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ')
        : 'not a JSON form field';
      return sendProblem(res, 400, 'Invalid request', `payload: ${message}`, { errors: [{ field: 'payload', message }] });
    }
    const p = parsed.data;
    const action = p.type === 'block_actions' ? p.actions.find((a) => a.action_id === 'approve' || a.action_id === 'reject') : undefined;
    // Link buttons (Status, Web UI) and other interactions are only acknowledged.
    if (!action) return void res.status(200).end();
    if (!action.value) {
      return void res.status(200).json(answer(`Not applied: the ${action.action_id} button carries no rollback id`));
    }
    const kind = action.action_id as 'approve' | 'reject';
    const id = action.value;
    const actor = opts.users[p.user.id] ?? `slack:${p.user.id}`;

    const outcome: Promise<SlackAnswer> = opts.service.decide(id, kind, actor, undefined, 'slack').then(
      (view) => {
        const what = kind === 'approve' ? 'approved' : 'rejected';
        const next =
          kind === 'approve'
            ? `rolling back ${view.prompt} from ${view.from_version} to ${view.to_version} (now ${view.status})`
            : `${view.prompt} stays on ${view.from_version}; monitoring continues (now ${view.status})`;
        return answer(`Rollback ${id} ${what} by ${actor}: ${next}`);
      },
      (err: unknown) => {
        if (isDomainError(err)) return answer(`Not applied: ${err.message}`);
        const outage = opts.storeOutage?.(err);
        if (outage !== undefined) {
          log.warn({ err, rollback_id: id }, 'a Slack decision could not be recorded: the store cannot be used');
          return answer(
            `Not confirmed: the store cannot be used right now (${outage}). Press ${kind === 'approve' ? 'Approve' : 'Reject'} again in a few seconds: if the decision was taken, the answer says so`,
          );
        }
        log.error({ err, rollback_id: id }, 'a Slack decision failed');
        return answer(`Not applied: an unexpected error occurred deciding rollback ${id}; it has been logged`);
      },
    );
    let answered = false;
    const timer = setTimeout(() => {
      answered = true;
      res.status(200).json(answer(`Received: ${kind} of rollback ${id} by ${actor}; the result follows`));
    }, answerWithinMs);
    void outcome.then((a) => {
      clearTimeout(timer);
      if (!answered) res.status(200).json(a);
      postToResponseUrl(p.response_url, a);
    });
  };

  return [PATH, express.raw({ type: () => true, limit: '1mb' }), handler];
}
