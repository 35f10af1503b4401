import { z } from 'zod';
import { ENGINES } from '../domain/app-ref.ts';

// Pass 1 of config parsing: the shape of rewind.yaml. Objects are strict so a typo is an error, not a
// silently ignored key. Durations stay strings here; pass 2 (normalise.ts) turns them into ms.

const duration = z.string().describe('duration');
const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the NAME of an environment variable (letters, digits, _)');
const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase Kubernetes name');

export const MODES = ['auto-merge', 'propose', 'observe'] as const;

const budgets = z.strictObject({
  perHour: z.number().int().min(0).default(2),
  perDay: z.number().int().min(0).default(5),
  cooldown: duration.default('10m'),
});

export const policySchema = z.strictObject({
  mode: z.enum(MODES).default('auto-merge'),
  gracePeriod: duration.default('30s'),
  dryRun: z.boolean().default(false),
  paused: z.boolean().default(false),
  budgets: budgets.prefault({}),
  maxCulpritAge: duration.default('7d'),
  suspendWhilePending: z.boolean().default(false),
  fastPath: z.boolean().default(false),
  verifyTimeout: duration.default('5m'),
  /** How long a revert pull request may wait for a person (propose) before the incident needs one. */
  reviewTimeout: duration.default('24h'),
});

// Per-app overrides: every policy key is optional and falls back to the global policy.
const appPolicyOverride = z.strictObject({
  mode: z.enum(MODES).optional(),
  gracePeriod: duration.optional(),
  dryRun: z.boolean().optional(),
  paused: z.boolean().optional(),
  budgets: z
    .strictObject({
      perHour: z.number().int().min(0).optional(),
      perDay: z.number().int().min(0).optional(),
      cooldown: duration.optional(),
    })
    .optional(),
  maxCulpritAge: duration.optional(),
  suspendWhilePending: z.boolean().optional(),
  fastPath: z.boolean().optional(),
  verifyTimeout: duration.optional(),
  reviewTimeout: duration.optional(),
});

export const appSchema = appPolicyOverride.extend({
  name: k8sName,
  namespace: k8sName.optional(),
  engine: z.enum(ENGINES).optional(),
});

const forgeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('direct-push'),
  }),
  z.strictObject({
    type: z.literal('github'),
    apiUrl: z.url().default('https://api.github.com'),
    owner: z.string().optional(),
    repo: z.string().optional(),
    tokenEnv: envVarName.optional(),
    app: z
      .strictObject({
        appId: z.number().int().positive(),
        installationId: z.number().int().positive().optional(),
        privateKeyEnv: envVarName,
      })
      .optional(),
    webhookSecretEnv: envVarName.optional(),
    mergeMethod: z.enum(['merge', 'squash', 'rebase']).default('merge'),
    labels: z.array(z.string().min(1).max(50)).default(['rewind', 'rollback']),
    /** Team slugs asked to review every revert (the culprit's author is asked too). */
    teamReviewers: z.array(z.string().min(1)).default([]),
    /** How often a pull request waiting for a person is looked at, when no webhook says it changed. */
    pollInterval: duration.default('30s'),
    /** Gap between two writes to the forge (GitHub's secondary limits want >= 1 s). */
    minWriteGap: duration.default('1s'),
  }),
]);

// Slack `/rollback` (POST /webhooks/slack): who may command Rewind from Slack (deny by default), and
// where outcomes may be posted (a request's response_url is only followed to these hosts).
const slackUser = z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id, like U012AB3CD');
const slackGroup = z.string().regex(/^S[A-Z0-9]{2,20}$/, 'a Slack user group id, like S0614TZR7');
export const slackChatOpsSchema = z.strictObject({
  /** The environment variable holding the Slack app's signing secret; without it the endpoint is off. */
  signingSecretEnv: envVarName.optional(),
  /** A bot token (`usergroups:read`) to learn a user's groups, for allowedGroups. */
  botTokenEnv: envVarName.optional(),
  allowedUsers: z.array(slackUser).default([]),
  allowedGroups: z.array(slackGroup).default([]),
  /** Per app, these lists replace the global ones for commands that name the app. */
  apps: z
    .array(
      z.strictObject({
        /** `<namespace>/<name>`, `ks/...`, `hr/...` or `app/...`, as in the command. */
        app: z.string().min(1),
        allowedUsers: z.array(slackUser).default([]),
        allowedGroups: z.array(slackGroup).default([]),
      }),
    )
    .default([]),
  /** `host` or `host:port`; a response_url elsewhere is never called. */
  responseUrlHosts: z.array(z.string().min(1)).default(['hooks.slack.com']),
  /** Tests only: allow http:// response URLs (on the hosts above). */
  allowInsecureResponseUrls: z.boolean().default(false),
});

/** GitHub's repository roles, weakest first (`none`: no access). */
export const GITHUB_PERMISSIONS = ['none', 'read', 'triage', 'write', 'maintain', 'admin'] as const;

// ChatOps (`/rollback` from GitHub comments): who may command Rewind, and where the global pause
// switch lives (a ConfigMap in Rewind's own namespace, durable across restarts and Redis loss).
const chatopsSchema = z.strictObject({
  /** Logins that may override the rollback budget (`--force`), besides repository admins. */
  admins: z.array(z.string().min(1).max(100)).default([]),
  /** The ConfigMap whose `rewind.dev/paused` annotation pauses every automatic rollback. */
  pauseConfigMap: z
    .strictObject({ namespace: k8sName.default('rewind-system'), name: k8sName.default('rewind-switches') })
    .prefault({}),
  github: z
    .strictObject({
      /** Read `/rollback` commands from issue and pull-request comments (needs the webhook). */
      enabled: z.boolean().default(true),
      /** The least repository role that may run a command that changes something. */
      minPermission: z.enum(GITHUB_PERMISSIONS).default('write'),
      /** Per app, only these people may roll it back, pause or resume it (on top of minPermission). */
      apps: z
        .array(
          z.strictObject({
            /** `<namespace>/<name>`, `ks/...`, `hr/...` or `app/...`, as in the command. */
            app: z.string().min(1),
            logins: z.array(z.string().min(1).max(100)).default([]),
            /** `org/team-slug`. */
            teams: z.array(z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'write org/team-slug')).default([]),
          }),
        )
        .default([]),
    })
    .prefault({}),
  slack: slackChatOpsSchema.prefault({}),
});

// Notifications out: Detected, NeedsHuman, Converged and Failed, once per transition. Secrets (the
// Slack webhook URL, the bot token, the HMAC key) are named by environment variable only.
export const notificationsSchema = z.strictObject({
  slack: z
    .strictObject({
      /** The environment variable holding a Slack incoming-webhook URL. */
      webhookUrlEnv: envVarName.optional(),
      /** A bot token (`chat:write`) for chat.postMessage to `channel`. */
      botTokenEnv: envVarName.optional(),
      channel: z.string().min(1).optional(),
      /** Tests only: the Slack Web API base URL (default Slack's). */
      apiUrl: z.url().optional(),
    })
    .optional(),
  webhook: z
    .strictObject({
      url: z.url(),
      /** When set, each body is signed: `X-Rewind-Signature: sha256=<hex HMAC of the body>`. */
      secretEnv: envVarName.optional(),
    })
    .optional(),
  /** Per endpoint; a slower endpoint is given up on (and logged), the incident goes on. */
  timeout: duration.default('5s'),
});

export const configSchema = z.strictObject({
  redis: z
    .strictObject({
      url: z.string().default('redis://127.0.0.1:6379'),
      prefix: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, ".", "_" or "-" (no ":")')
        .default('rewind'),
    })
    .prefault({}),
  kubernetes: z
    .strictObject({
      kubeconfig: z.string().optional(),
      namespaces: z.array(k8sName).default([]),
    })
    .prefault({}),
  git: z
    .strictObject({
      workdir: z.string().default('./.rewind'),
      author: z
        .strictObject({
          name: z.string().min(1).default('Rewind'),
          email: z.string().min(3).default('rewind@example.invalid'),
        })
        .prefault({}),
      /** Allow file:// and local-path remotes (the sandbox, tests). Off by default: a GitRepository
       * in the cluster must not make Rewind read local paths. */
      allowFileRemotes: z.boolean().default(false),
      /** Hosts Rewind may fetch from and push to (credentials are never sent anywhere else). */
      allowedHosts: z.array(z.string().min(1)).default([]),
      credentials: z
        .strictObject({
          username: z.string().optional(),
          tokenEnv: envVarName.optional(),
        })
        .optional(),
    })
    .prefault({}),
  forge: forgeSchema.default({ type: 'direct-push' }),
  policy: policySchema.prefault({}),
  detection: z
    .strictObject({
      /** Container restarts after which a Pod of a new revision counts as failing. */
      restartThreshold: z.number().int().min(1).default(3),
    })
    .prefault({}),
  worker: z
    .strictObject({
      /** How long a running job stays locked to its worker without a renewal: a worker that died
       * (crash, SIGKILL, lost node) has its job taken over by another after about this long. */
      lockDuration: duration.default('30s'),
    })
    .prefault({}),
  apps: z.array(appSchema).default([]),
  chatops: chatopsSchema.prefault({}),
  notifications: notificationsSchema.prefault({}),
});

export type RawConfig = z.output<typeof configSchema>;
export type RawAppConfig = z.output<typeof appSchema>;
export type ForgeConfig = RawConfig['forge'];
export type ChatOpsConfig = RawConfig['chatops'];
export type SlackChatOpsConfig = ChatOpsConfig['slack'];
export type NotificationsConfig = Omit<RawConfig['notifications'], 'timeout'> & {
  readonly timeoutMs: number;
};
