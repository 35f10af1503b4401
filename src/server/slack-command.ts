// `POST /webhooks/slack`: Slack's `/rollback` slash command. Slack waits 3 s for an answer, so the
// endpoint only authenticates, parses, authorizes and acknowledges (ephemeral), then runs the
// command in the background and posts the outcome to the request's `response_url`. Order matters
// for safety, as on the GitHub endpoint: the size cap applies while the body is read, the v0
// signature and its timestamp are checked on the raw bytes before anything is parsed, a replayed
// request is refused by its signature, and nothing is run for a request that fails any check.
// Neither the signing secret, the signature nor the response_url (its path is a credential) is logged.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { IncomingWebhook, type IncomingWebhookSendArguments } from '@slack/webhook';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { SlackChatOpsConfig } from '../config/index.ts';
import { ConfigError, redact } from '../domain/errors.ts';
import { printable, slackEscape } from '../domain/outbound-text.ts';
import type { ChatActor, ChatChannel, ChatCommandExecutor } from '../chatops/executor.ts';
import { COMMAND_PREFIX, MAX_COMMAND_CHARS, USAGE, parseCommand } from '../chatops/grammar.ts';
import { checkResponseUrl } from '../chatops/response-url.ts';
import { authorizeSlack } from '../chatops/slack-authorization.ts';
import {
  SLACK_MAX_AGE_SECONDS,
  SLACK_MAX_FUTURE_SECONDS,
  checkSlackSignature,
} from '../chatops/slack-signature.ts';
import type { Logger } from '../pipeline/ports.ts';
import { type WebhookHandler, answer, header, readCappedBody } from './webhooks.ts';

export interface SlackCommandOptions {
  readonly signingSecret: string;
  readonly config: SlackChatOpsConfig;
  readonly executor: ChatCommandExecutor;
  /** A user's Slack user groups (for allowedGroups); without it only user ids authorize. */
  readonly groupsOf?: (userId: string) => Promise<readonly string[]>;
  /** Replay protection: a request's signature is remembered under this prefix. */
  readonly dedupe: { readonly redis: Redis; readonly prefix: string };
  readonly log: Logger;
  /** Slack's payloads are small; default 16 KiB. */
  readonly maxBodyBytes?: number;
  readonly readTimeoutMs?: number;
  /** Posting to response_url gives up after this long (default 10 s). */
  readonly responseTimeoutMs?: number;
  readonly now?: () => number;
}

export interface SlackCommandEndpoint {
  readonly handler: WebhookHandler;
  /** Resolves when every background command has posted its outcome (tests, graceful stop). */
  idle(): Promise<void>;
}

export const DEFAULT_MAX_SLACK_BODY_BYTES = 16 * 1024;
// Longer than the window in which a timestamp is accepted, so a replay inside it is always caught.
const REPLAY_TTL_SECONDS = SLACK_MAX_AGE_SECONDS + SLACK_MAX_FUTURE_SECONDS + 60;

// Only the fields Rewind reads; Slack's ids are short uppercase words.
const slackId = (first: string) => z.string().regex(new RegExp(`^[${first}][A-Z0-9]{1,30}$`));
const slashCommand = z.object({
  team_id: slackId('T'),
  channel_id: slackId('CDG'),
  channel_name: z.string().max(100).default(''),
  user_id: slackId('UW'),
  user_name: z.string().max(100).default(''),
  command: z.string().regex(/^\/[a-z0-9_-]{1,32}$/i),
  text: z.string().max(MAX_COMMAND_CHARS),
  response_url: z.string().max(2048),
});

/**
 * An immediate answer. These texts carry no Slack markup of Rewind's own, and some quote what the
 * person typed (a refused command, the acknowledgement), so the whole text is escaped.
 */
function ephemeral(res: ServerResponse, text: string): void {
  answer(res, 200, { response_type: 'ephemeral', text: slackEscape(printable(text)) });
}

export function createSlackCommandEndpoint(options: SlackCommandOptions): SlackCommandEndpoint {
  if (options.signingSecret === '') {
    throw new ConfigError([
      { path: 'chatops.slack.signingSecretEnv', message: 'the Slack signing secret is empty.' },
    ]);
  }
  const max = options.maxBodyBytes ?? DEFAULT_MAX_SLACK_BODY_BYTES;
  const now = options.now ?? Date.now;
  const baseLog = options.log.child({ webhook: 'slack' });
  const running = new Set<Promise<void>>();
  const policy = {
    hosts: options.config.responseUrlHosts,
    allowInsecure: options.config.allowInsecureResponseUrls,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return answer(res, 405, { error: 'use POST' });
    }
    const signature = header(req, 'x-slack-signature');
    const timestamp = header(req, 'x-slack-request-timestamp');
    if (signature === undefined || timestamp === undefined) {
      baseLog.warn({ reason: 'missing' }, 'slack signature refused');
      return answer(res, 401, { error: 'missing X-Slack-Signature or X-Slack-Request-Timestamp' }, true);
    }
    const declared = Number(header(req, 'content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > max) {
      return answer(res, 413, { error: `body larger than ${max} bytes` }, true);
    }
    const read = await readCappedBody(req, max, options.readTimeoutMs ?? 10_000);
    if (read.kind === 'too-large') return answer(res, 413, { error: `body larger than ${max} bytes` }, true);
    if (read.kind === 'timeout') return answer(res, 408, { error: 'body not received in time' }, true);

    const check = checkSlackSignature({
      secret: options.signingSecret,
      timestamp,
      signature,
      rawBody: read.bytes,
      nowMs: now(),
    });
    if (!check.ok) {
      baseLog.warn({ reason: check.reason, bytes: read.bytes.length }, 'slack signature refused');
      return answer(res, 401, { error: `request refused (${check.reason})` });
    }

    // The signature covers timestamp and body, so it names this request: seen once, never again.
    let fresh: boolean;
    try {
      const key = `${options.dedupe.prefix}${signature.slice(3)}`;
      fresh = (await options.dedupe.redis.set(key, String(now()), 'EX', REPLAY_TTL_SECONDS, 'NX')) === 'OK';
    } catch (error) {
      baseLog.error({ err: redact(String(error)) }, 'slack replay check unavailable');
      return answer(res, 503, { error: 'try again later' });
    }
    if (!fresh) {
      baseLog.warn({}, 'replayed slack request refused');
      return answer(res, 401, { error: 'request refused (replayed)' });
    }

    const fields = slashCommand.safeParse(
      Object.fromEntries(new URLSearchParams(read.bytes.toString('utf8'))),
    );
    if (!fields.success) {
      baseLog.warn(
        { problems: fields.error.issues.slice(0, 5).map((i) => i.path.join('.')) },
        'slack payload refused',
      );
      return answer(res, 400, { error: 'not a slash command payload' });
    }
    const body = fields.data;
    const log = baseLog.child({ user: body.user_id, team: body.team_id, channel: body.channel_id });
    // The slash command's own name is the app's choice (`/rollback`, `/rewind`); the grammar reads the rest.
    const parsed = parseCommand(`${COMMAND_PREFIX} ${body.text}`);
    if (!parsed.ok) return ephemeral(res, parsed.error);
    const command = parsed.command;
    if (command.kind === 'help') return ephemeral(res, `Usage:\n${USAGE}`);

    const target = checkResponseUrl(body.response_url, policy);
    if (!target.ok) {
      // Without a place to report to, the command would run unseen: refuse it.
      log.warn({ reason: target.reason }, 'slack response_url refused; command not run');
      return ephemeral(
        res,
        'Rewind cannot reply to this request (its response_url is not allowed); nothing was done.',
      );
    }

    // Per-app lists apply to every command that acts on an app: for `cancel`, its incident's app.
    let app;
    try {
      app = await options.executor.targetApp(command);
    } catch (error) {
      log.error({ err: redact(String(error)) }, 'slack command target could not be read');
      return ephemeral(
        res,
        'Rewind could not look up what this command acts on; nothing was done. Try again later.',
      );
    }
    let authorization;
    try {
      authorization = await authorizeSlack(options.config, command, app, body.user_id, options.groupsOf);
    } catch (error) {
      log.error({ err: redact(String(error)) }, 'slack user groups could not be read');
      return ephemeral(
        res,
        'Rewind could not check your Slack user groups; nothing was done. Try again later.',
      );
    }
    if (!authorization.allowed) {
      log.warn({ command: command.kind }, 'slack command refused: user not allowed');
      return ephemeral(res, authorization.reason);
    }

    const actor: ChatActor = {
      kind: 'slack',
      userId: body.user_id,
      userName: body.user_name,
      teamId: body.team_id,
      ...(authorization.groups.length > 0 ? { groups: authorization.groups } : {}),
    };
    const channel: ChatChannel = {
      kind: 'slack',
      teamId: body.team_id,
      channelId: body.channel_id,
      channelName: body.channel_name,
      requestId: `slack-${createHash('sha256').update(body.response_url).digest('hex').slice(0, 24)}`,
    };
    log.info({ command: command.kind, via: authorization.via }, 'slack command accepted');
    const work = runAndReply(command, actor, channel, target.url, log).finally(() => running.delete(work));
    running.add(work);
    return ephemeral(
      res,
      `Rewind is on it: \`${COMMAND_PREFIX} ${body.text.trim()}\`. The outcome follows here.`,
    );
  }

  async function runAndReply(
    command: Parameters<ChatCommandExecutor['execute']>[0],
    actor: ChatActor,
    channel: ChatChannel,
    url: URL,
    log: Logger,
  ): Promise<void> {
    let message: IncomingWebhookSendArguments & { response_type: 'in_channel' | 'ephemeral' };
    try {
      const text = await options.executor.execute(command, actor, channel);
      // The service quoted untrusted parts for Slack already; nothing unprintable leaves either way.
      message = { response_type: 'in_channel', text: printable(text) };
    } catch (error) {
      log.error({ err: redact(String(error)), command: command.kind }, 'slack command failed');
      message = {
        response_type: 'ephemeral',
        text: 'Rewind could not run the command (an internal error; see its logs). Nothing may have changed: check `/rollback status`.',
      };
    }
    try {
      // Slack's response_url speaks the incoming-webhook protocol; the client refuses redirects.
      await new IncomingWebhook(url.toString(), {
        timeout: options.responseTimeoutMs ?? 10_000,
        retryConfig: { retries: 2, minTimeout: 200, maxTimeout: 2000 },
      }).send(message);
    } catch (error) {
      log.warn({ err: redact(String(error)), host: url.host }, 'slack outcome could not be posted');
    }
  }

  return {
    handler: (req, res) => {
      handle(req, res).catch((error: unknown) => {
        baseLog.error({ err: redact(String(error)) }, 'slack handler failed');
        answer(res, 500, { error: 'internal error' });
      });
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
