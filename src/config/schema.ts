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

/**
 * Where an alert's labels name an app: templates tried in order, each rendering
 * `[engine/][namespace/]name` from `{label}` placeholders; one whose labels are missing is skipped.
 */
export const DEFAULT_ALERT_APP_LABELS = [
  // A label the alert rule sets for Rewind: `ks/flux-system/podinfo`, `app/argocd/web`.
  '{rewind_app}',
  // Flux's monitoring (kube-state-metrics custom resource metrics, gotk_resource_info / gotk_reconcile_condition).
  '{kind}/{exported_namespace}/{name}',
  '{kind}/{namespace}/{name}',
  // A Deployment's labels joined through kube_deployment_labels: the Kustomization that applied it.
  'ks/{label_kustomize_toolkit_fluxcd_io_namespace}/{label_kustomize_toolkit_fluxcd_io_name}',
];

// One alert endpoint's credentials (named by environment variable): a bearer token, or an HMAC key
// for `X-Signature: sha256=<hex>` over the body (Flux's generic-hmac provider).
const alertAuth = {
  tokenEnv: envVarName.optional(),
  hmacSecretEnv: envVarName.optional(),
};

// Alert-driven triggers: POST /webhooks/alertmanager and /webhooks/flux (off unless configured).
export const alertsSchema = z.strictObject({
  /** How long an alert (fingerprint + startsAt) or a Flux event is remembered as handled. */
  dedupeTtl: duration.default('24h'),
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  alertmanager: z
    .strictObject({
      ...alertAuth,
      appLabels: z.array(z.string().min(1).max(300)).min(1).default(DEFAULT_ALERT_APP_LABELS),
    })
    .optional(),
  flux: z.strictObject(alertAuth).optional(),
});

export const configSchema = z.strictObject({
  redis: z
    .strictObject({
      url: z.string().default('redis://127.0.0.1:6379'),
      // In braces, a Redis Cluster hash tag: every key of the installation hashes to one slot, so
      // BullMQ's and Rewind's multi-key scripts work on Redis Cluster and Valkey cluster mode.
      prefix: z
        .string()
        .regex(
          /^(\{[A-Za-z0-9_.-]+\}|[A-Za-z0-9_.-]+)$/,
          'use letters, digits, ".", "_" or "-" (no ":"), optionally all in one pair of braces: {rewind}',
        )
        .default('{rewind}'),
      /** How long an ended incident's record is kept (in-flight ones are never expired). */
      incidentRetention: duration.default('30d'),
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
      /** Liveness fails when an informer has not synced (event, bookmark, list) for this long; the
       * default is three times the longer of its stall timeout (90 s) and resync period (60 s). */
      wedgedAfter: duration.optional(),
    })
    .prefault({}),
  // One detector at a time across replicas, elected through a coordination.k8s.io/v1 Lease with
  // client-go's leader-election timings (rollback and verify workers run in every replica).
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(true),
      namespace: k8sName.default('rewind-system'),
      name: k8sName.default('rewind-detector'),
      /** How long the others wait, after the last change they saw, before taking the lease over. */
      leaseDuration: duration.default('15s'),
      /** A leader that has not renewed for this long stops its detector (shorter than leaseDuration). */
      renewDeadline: duration.default('10s'),
      /** How often the leader renews and candidates retry. */
      retryPeriod: duration.default('2s'),
      /** This process's name on the Lease; default the POD_NAME variable, else host and pid. */
      identity: z.string().min(1).max(253).optional(),
    })
    .prefault({}),
  worker: z
    .strictObject({
      /** How long a running job stays locked to its worker without a renewal: a worker that died
       * (crash, SIGKILL, lost node) has its job taken over by another after about this long. */
      lockDuration: duration.default('30s'),
      /**
       * Jobs each worker (rollback, verifier) runs at once. They wait on git, the API server and the
       * forge, not the CPU: an incident storm (one commit breaking hundreds of apps) needs many at
       * once so that every incident is recorded and linked within seconds.
       */
      concurrency: z.number().int().min(1).max(256).default(32),
    })
    .prefault({}),
  apps: z.array(appSchema).default([]),
  chatops: chatopsSchema.prefault({}),
  notifications: notificationsSchema.prefault({}),
  // The read-only incident dashboard on the HTTP listener (/dashboard/, /api/incidents, /api/events).
  dashboard: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** When set, the dashboard and its API ask for this token (Bearer, or Basic with it as password). */
      tokenEnv: envVarName.optional(),
    })
    .prefault({}),
  alerts: alertsSchema.prefault({}),
  // The HTTP listener of `rewind start` and `rewind worker --listen` (probes, metrics, webhooks,
  // dashboard): where it binds, how long a client may take, how many connections it holds.
  server: z
    .strictObject({
      /** The address to bind; `--host` wins. 0.0.0.0 (every interface) is what a Pod needs;
       * 127.0.0.1 keeps it on this machine. */
      host: z.string().min(1).default('0.0.0.0'),
      /** A request's headers must all arrive within this long (408 and closed otherwise). */
      headersTimeout: duration.default('10s'),
      /** A whole request (headers and body) must arrive within this long. */
      requestTimeout: duration.default('30s'),
      /** An idle keep-alive connection is closed after this long. */
      keepAliveTimeout: duration.default('5s'),
      /** Open connections at most: one more is answered 503 at once and closed. */
      maxConnections: z.number().int().min(2).max(1_000_000).default(1000),
      /** Of maxConnections, how many only serve /healthz and /readyz (probes still answer when the rest are taken). */
      probeReserve: z.number().int().min(0).default(10),
    })
    .prefault({}),
});

export type RawConfig = z.output<typeof configSchema>;
export type RawAppConfig = z.output<typeof appSchema>;
export type ForgeConfig = RawConfig['forge'];
export type ChatOpsConfig = RawConfig['chatops'];
export type SlackChatOpsConfig = ChatOpsConfig['slack'];
export type NotificationsConfig = Omit<RawConfig['notifications'], 'timeout'> & {
  readonly timeoutMs: number;
};
export type AlertsConfig = Omit<RawConfig['alerts'], 'dedupeTtl'> & { readonly dedupeTtlMs: number };
