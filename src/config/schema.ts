import { z } from 'zod';
import { ENGINES } from '../domain/app-ref.ts';

// Pass 1 of config parsing: the shape of rewind.yaml. Objects are strict so a typo is an error, not a
// silently ignored key. Durations stay strings here; pass 2 (normalise.ts) turns them into ms.
// Every key carries a description: the JSON Schemas (editors, the Helm chart's values.schema.json) and
// docs/configuration.md are generated from this schema (npm run schema).

/** What parseDuration accepts, for JSON Schema validators (zod leaves the check to pass 2). */
const DURATION_PATTERN = String.raw`^\s*(0|(\d+(\.\d+)?(ms|s|m|h|d))+)\s*$`;
const duration = z.string().meta({ title: 'duration', pattern: DURATION_PATTERN });
const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the NAME of an environment variable (letters, digits, _)');
const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase Kubernetes name');

export const MODES = ['auto-merge', 'propose', 'observe'] as const;

const budgets = z.strictObject({
  perHour: z.number().int().min(0).default(2).describe('Automatic rollbacks of one app per hour at most.'),
  perDay: z.number().int().min(0).default(5).describe('Automatic rollbacks of one app per day at most.'),
  cooldown: duration.default('10m').describe('Least time between two automatic rollbacks of the same app.'),
});

const POLICY_TEXT = {
  mode: 'auto-merge: revert, open the pull request and merge it; propose: open it for a person to merge; observe: detect and find the culprit, then report only.',
  gracePeriod:
    'How long an app must stay failed before Rewind acts (filters flapping), like Prometheus `for:`.',
  dryRun: 'Log what would be done; push, merge and patch nothing.',
  paused: 'Detection goes on, no rollback starts.',
  budgets: 'Limits on automatic rollbacks per app; beyond them the incident needs a person (NeedsHuman).',
  maxCulpritAge: 'Culprits older than this are not reverted automatically.',
  suspendWhilePending:
    'Until the revert is in Git, hold the engine (Flux Kustomization suspended, Argo CD automated sync off) so it stops re-trying the bad revision; the Deployments are left alone.',
  fastPath:
    'Suspend the Flux Kustomization and roll its Deployments back natively (as `kubectl rollout undo`) while Git catches up through the revert; needs patch rights on Deployments.',
  verifyTimeout: 'Past this, verification gives up and the incident is Failed (with the evidence).',
  reviewTimeout:
    'How long a revert pull request may wait for a person (propose) before the incident needs one; a later merge still rolls back and verifies.',
} as const;

export const policySchema = z.strictObject({
  mode: z.enum(MODES).default('auto-merge').describe(POLICY_TEXT.mode),
  gracePeriod: duration.default('30s').describe(POLICY_TEXT.gracePeriod),
  dryRun: z.boolean().default(false).describe(POLICY_TEXT.dryRun),
  paused: z.boolean().default(false).describe(POLICY_TEXT.paused),
  budgets: budgets.prefault({}).describe(POLICY_TEXT.budgets),
  maxCulpritAge: duration.default('7d').describe(POLICY_TEXT.maxCulpritAge),
  suspendWhilePending: z.boolean().default(false).describe(POLICY_TEXT.suspendWhilePending),
  fastPath: z.boolean().default(false).describe(POLICY_TEXT.fastPath),
  verifyTimeout: duration.default('5m').describe(POLICY_TEXT.verifyTimeout),
  reviewTimeout: duration.default('24h').describe(POLICY_TEXT.reviewTimeout),
});

const overrides = (key: keyof typeof POLICY_TEXT): string =>
  `Overrides policy.${key} for this app. ${POLICY_TEXT[key]}`;

// Per-app overrides: every policy key is optional and falls back to the global policy.
const appPolicyOverride = z.strictObject({
  mode: z.enum(MODES).optional().describe(overrides('mode')),
  gracePeriod: duration.optional().describe(overrides('gracePeriod')),
  dryRun: z.boolean().optional().describe(overrides('dryRun')),
  paused: z.boolean().optional().describe(overrides('paused')),
  budgets: z
    .strictObject({
      perHour: z.number().int().min(0).optional().describe('Overrides policy.budgets.perHour for this app.'),
      perDay: z.number().int().min(0).optional().describe('Overrides policy.budgets.perDay for this app.'),
      cooldown: duration.optional().describe('Overrides policy.budgets.cooldown for this app.'),
    })
    .optional()
    .describe(overrides('budgets')),
  maxCulpritAge: duration.optional().describe(overrides('maxCulpritAge')),
  suspendWhilePending: z.boolean().optional().describe(overrides('suspendWhilePending')),
  fastPath: z.boolean().optional().describe(overrides('fastPath')),
  verifyTimeout: duration.optional().describe(overrides('verifyTimeout')),
  reviewTimeout: duration.optional().describe(overrides('reviewTimeout')),
});

export const appSchema = appPolicyOverride.extend({
  name: k8sName.describe('The app: a Flux Kustomization or HelmRelease, or an Argo CD Application.'),
  namespace: k8sName
    .optional()
    .describe('Its namespace; omitted: the entry matches the name in any namespace.'),
  engine: z
    .enum(ENGINES)
    .optional()
    .describe('Its engine; omitted: the entry matches the name under any engine.'),
});

const forgeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z
      .literal('direct-push')
      .describe('No forge: the revert commit is pushed to the tracked branch (small teams, the demo).'),
  }),
  z.strictObject({
    type: z.literal('github').describe('Revert pull requests through the GitHub API.'),
    apiUrl: z
      .url()
      .default('https://api.github.com')
      .describe('The REST API base URL (GitHub Enterprise Server: https://<host>/api/v3).'),
    owner: z
      .string()
      .optional()
      .describe("The repository's owner; default: from the app's Git repository URL."),
    repo: z
      .string()
      .optional()
      .describe("The repository's name; default: from the app's Git repository URL."),
    tokenEnv: envVarName
      .optional()
      .describe('The environment variable holding a token (a fine-grained PAT); or configure app.'),
    app: z
      .strictObject({
        appId: z.number().int().positive().describe("The GitHub App's id."),
        installationId: z
          .number()
          .int()
          .positive()
          .optional()
          .describe("The installation's id; default: looked up for the repository."),
        privateKeyEnv: envVarName.describe("The environment variable holding the App's private key (PEM)."),
      })
      .optional()
      .describe('Authenticate as a GitHub App instead of with a token.'),
    webhookSecretEnv: envVarName
      .optional()
      .describe(
        'The environment variable holding the secret GitHub signs webhooks with (POST /webhooks/github).',
      ),
    mergeMethod: z
      .enum(['merge', 'squash', 'rebase'])
      .default('merge')
      .describe('How a revert pull request is merged (auto-merge).'),
    labels: z
      .array(z.string().min(1).max(50))
      .default(['rewind', 'rollback'])
      .describe('Labels put on every revert pull request.'),
    teamReviewers: z
      .array(z.string().min(1))
      .default([])
      .describe("Team slugs asked to review every revert (the culprit's author is asked too)."),
    pollInterval: duration
      .default('30s')
      .describe(
        'How often a pull request waiting for a person is looked at, when no webhook says it changed.',
      ),
    minWriteGap: duration
      .default('1s')
      .describe("Gap between two writes to the forge (GitHub's secondary limits want >= 1 s)."),
  }),
]);

// Slack `/rollback` (POST /webhooks/slack): who may command Rewind from Slack (deny by default), and
// where outcomes may be posted (a request's response_url is only followed to these hosts).
const slackUser = z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id, like U012AB3CD');
const slackGroup = z.string().regex(/^S[A-Z0-9]{2,20}$/, 'a Slack user group id, like S0614TZR7');
const APP_IN_COMMAND = '`<namespace>/<name>`, `ks/...`, `hr/...` or `app/...`, as in the command.';
const ALLOWED_USERS = 'Slack user ids (U...) that may run commands.';
const ALLOWED_GROUPS = 'Slack user groups (S...) whose members may run commands (needs botTokenEnv).';
export const slackChatOpsSchema = z.strictObject({
  signingSecretEnv: envVarName
    .optional()
    .describe(
      "The environment variable holding the Slack app's signing secret; without it the endpoint is off.",
    ),
  botTokenEnv: envVarName
    .optional()
    .describe("The environment variable holding a bot token (`usergroups:read`) to learn a user's groups."),
  allowedUsers: z.array(slackUser).default([]).describe(ALLOWED_USERS),
  allowedGroups: z.array(slackGroup).default([]).describe(ALLOWED_GROUPS),
  apps: z
    .array(
      z.strictObject({
        app: z.string().min(1).describe(APP_IN_COMMAND),
        allowedUsers: z.array(slackUser).default([]).describe(ALLOWED_USERS),
        allowedGroups: z.array(slackGroup).default([]).describe(ALLOWED_GROUPS),
      }),
    )
    .default([])
    .describe('Per app, these lists replace the global ones for commands that name the app.'),
  responseUrlHosts: z
    .array(z.string().min(1))
    .default(['hooks.slack.com'])
    .describe("`host` or `host:port`; a request's response_url elsewhere is never called."),
  allowInsecureResponseUrls: z
    .boolean()
    .default(false)
    .describe('Tests only: allow http:// response URLs (on responseUrlHosts).'),
});

/** GitHub's repository roles, weakest first (`none`: no access). */
export const GITHUB_PERMISSIONS = ['none', 'read', 'triage', 'write', 'maintain', 'admin'] as const;

// ChatOps (`/rollback` from GitHub comments): who may command Rewind, and where the global pause
// switch lives (a ConfigMap in Rewind's own namespace, durable across restarts and Redis loss).
const chatopsSchema = z.strictObject({
  admins: z
    .array(z.string().min(1).max(100))
    .default([])
    .describe('Logins that may override the rollback budget (`--force`), besides repository admins.'),
  pauseConfigMap: z
    .strictObject({
      namespace: k8sName.default('rewind-system').describe("The ConfigMap's namespace (Rewind's own)."),
      name: k8sName.default('rewind-switches').describe("The ConfigMap's name."),
    })
    .prefault({})
    .describe('The ConfigMap whose `rewind.dev/paused` annotation pauses every automatic rollback.'),
  github: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe('Read `/rollback` commands from issue and pull-request comments (needs the webhook).'),
      minPermission: z
        .enum(GITHUB_PERMISSIONS)
        .default('write')
        .describe('The least repository role that may run a command that changes something.'),
      apps: z
        .array(
          z.strictObject({
            app: z.string().min(1).describe(APP_IN_COMMAND),
            logins: z.array(z.string().min(1).max(100)).default([]).describe('GitHub logins.'),
            teams: z
              .array(z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'write org/team-slug'))
              .default([])
              .describe('Teams as `org/team-slug`.'),
          }),
        )
        .default([])
        .describe(
          'Per app, only these people may roll it back, pause or resume it (on top of minPermission).',
        ),
    })
    .prefault({})
    .describe('`/rollback` in GitHub issue and pull-request comments.'),
  slack: slackChatOpsSchema
    .prefault({})
    .describe('`/rollback` from Slack (POST /webhooks/slack); deny by default.'),
});

// Notifications out: Detected, NeedsHuman, Converged and Failed, once per transition. Secrets (the
// Slack webhook URL, the bot token, the HMAC key) are named by environment variable only.
export const notificationsSchema = z.strictObject({
  slack: z
    .strictObject({
      webhookUrlEnv: envVarName
        .optional()
        .describe('The environment variable holding a Slack incoming-webhook URL.'),
      botTokenEnv: envVarName
        .optional()
        .describe(
          'The environment variable holding a bot token (`chat:write`) for chat.postMessage to channel.',
        ),
      channel: z.string().min(1).optional().describe('The channel id the bot token posts to.'),
      apiUrl: z.url().optional().describe("Tests only: the Slack Web API base URL (default Slack's)."),
    })
    .optional()
    .describe('Post to Slack, through an incoming webhook or a bot token.'),
  webhook: z
    .strictObject({
      url: z.url().describe('Where each notification is POSTed as JSON.'),
      secretEnv: envVarName
        .optional()
        .describe(
          'The environment variable holding an HMAC key; when set, each body is signed: `X-Rewind-Signature: sha256=<hex HMAC of the body>`.',
        ),
    })
    .optional()
    .describe('POST every notification to a URL.'),
  timeout: duration
    .default('5s')
    .describe('Per endpoint; a slower endpoint is given up on (and logged), the incident goes on.'),
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
  tokenEnv: envVarName
    .optional()
    .describe('The environment variable holding the bearer token every request must carry.'),
  hmacSecretEnv: envVarName
    .optional()
    .describe('The environment variable holding the key of `X-Signature: sha256=<hex HMAC of the body>`.'),
};

// Alert-driven triggers: POST /webhooks/alertmanager and /webhooks/flux (off unless configured).
export const alertsSchema = z.strictObject({
  dedupeTtl: duration
    .default('24h')
    .describe('How long an alert (fingerprint + startsAt) or a Flux event is remembered as handled.'),
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024)
    .describe('A larger request body is refused (413).'),
  alertmanager: z
    .strictObject({
      ...alertAuth,
      appLabels: z
        .array(z.string().min(1).max(300))
        .min(1)
        .default(DEFAULT_ALERT_APP_LABELS)
        .describe(
          "Where an alert's labels name an app: templates tried in order, each rendering `[engine/][namespace/]name` from `{label}` placeholders; one whose labels are missing is skipped.",
        ),
    })
    .optional()
    .describe(
      'POST /webhooks/alertmanager (Alertmanager webhook receiver); exactly one of tokenEnv, hmacSecretEnv.',
    ),
  flux: z
    .strictObject(alertAuth)
    .optional()
    .describe(
      "POST /webhooks/flux (Flux notification-controller's generic providers); exactly one of tokenEnv, hmacSecretEnv.",
    ),
});

export const configSchema = z.strictObject({
  redis: z
    .strictObject({
      url: z
        .string()
        .default('redis://127.0.0.1:6379')
        .describe(
          "BullMQ's queues and Rewind's incident records; default: the REDIS_URL variable, else this. Run Redis with --appendonly yes --maxmemory-policy noeviction.",
        ),
      // In braces, a Redis Cluster hash tag: every key of the installation hashes to one slot, so
      // BullMQ's and Rewind's multi-key scripts work on Redis Cluster and Valkey cluster mode.
      prefix: z
        .string()
        .regex(
          /^(\{[A-Za-z0-9_.-]+\}|[A-Za-z0-9_.-]+)$/,
          'use letters, digits, ".", "_" or "-" (no ":"), optionally all in one pair of braces: {rewind}',
        )
        .default('{rewind}')
        .describe(
          'Key prefix, so several installations can share one Redis; in braces a Redis Cluster hash tag (every key in one slot, for Redis Cluster and Valkey). Changing it drops in-flight jobs.',
        ),
      incidentRetention: duration
        .default('30d')
        .describe("How long an ended incident's record is kept (in-flight ones are never expired)."),
    })
    .prefault({})
    .describe('The Redis that holds the queues and the incident records.'),
  kubernetes: z
    .strictObject({
      kubeconfig: z
        .string()
        .optional()
        .describe('Path to a kubeconfig; omitted: $KUBECONFIG, or the in-cluster ServiceAccount in a Pod.'),
      namespaces: z
        .array(k8sName)
        .default([])
        .describe(
          'Namespaces to watch (Flux and Argo CD objects, Deployments); empty: every namespace (needs the ClusterRole).',
        ),
    })
    .prefault({})
    .describe('The cluster Rewind watches.'),
  git: z
    .strictObject({
      workdir: z
        .string()
        .default('./.rewind')
        .describe(
          'Mirror clones and per-job worktrees; must be writable, may be ephemeral (rebuilt on start).',
        ),
      author: z
        .strictObject({
          name: z.string().min(1).default('Rewind').describe("The revert commits' author name."),
          email: z
            .string()
            .min(3)
            .default('rewind@example.invalid')
            .describe("The revert commits' author email."),
        })
        .prefault({})
        .describe('Author of revert commits; commits by this author are never reverted automatically.'),
      allowFileRemotes: z
        .boolean()
        .default(false)
        .describe(
          'Allow file:// and local-path remotes (the sandbox, tests). Off by default: a GitRepository in the cluster must not make Rewind read local paths.',
        ),
      allowedHosts: z
        .array(z.string().min(1))
        .default([])
        .describe('Hosts Rewind may fetch from and push to (credentials are never sent anywhere else).'),
      credentials: z
        .strictObject({
          username: z.string().optional().describe('The HTTPS username sent with the token.'),
          tokenEnv: envVarName
            .optional()
            .describe('The environment variable holding the token git fetches and pushes with over HTTPS.'),
        })
        .optional()
        .describe(
          'HTTPS credentials for git; with the github forge and token auth, git uses the forge token unless tokenEnv here names another.',
        ),
    })
    .prefault({})
    .describe('The Git repositories Rewind reverts in.'),
  forge: forgeSchema
    .default({ type: 'direct-push' })
    .describe('Where a revert goes: pushed to the tracked branch (direct-push) or a pull request (github).'),
  policy: policySchema
    .prefault({})
    .describe('What Rewind does about a failing app; apps[] overrides it per app.'),
  detection: z
    .strictObject({
      restartThreshold: z
        .number()
        .int()
        .min(1)
        .default(3)
        .describe('Container restarts after which a Pod of a new revision counts as failing.'),
      wedgedAfter: duration
        .optional()
        .describe(
          'Liveness (/healthz) fails when an informer has not synced (event, bookmark, list) for this long; default: three times the longer of its stall timeout (90 s) and resync period (60 s).',
        ),
    })
    .prefault({})
    .describe('How failures are detected.'),
  // One detector at a time across replicas, elected through a coordination.k8s.io/v1 Lease with
  // client-go's leader-election timings (rollback and verify workers run in every replica).
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Off: every process with the detector role detects.'),
      namespace: k8sName.default('rewind-system').describe("The Lease's namespace."),
      name: k8sName.default('rewind-detector').describe("The Lease's name."),
      leaseDuration: duration
        .default('15s')
        .describe('How long the others wait, after the last change they saw, before taking the lease over.'),
      renewDeadline: duration
        .default('10s')
        .describe(
          'A leader that has not renewed for this long stops its detector (shorter than leaseDuration).',
        ),
      retryPeriod: duration.default('2s').describe('How often the leader renews and candidates retry.'),
      identity: z
        .string()
        .min(1)
        .max(253)
        .optional()
        .describe("This process's name on the Lease; default: the POD_NAME variable, else host and pid."),
    })
    .prefault({})
    .describe(
      'One detector at a time across replicas, elected through a coordination.k8s.io/v1 Lease (rollback and verify jobs run in every replica).',
    ),
  worker: z
    .strictObject({
      lockDuration: duration
        .default('30s')
        .describe(
          'How long a running job stays locked to its worker without a renewal: a worker that died (crash, SIGKILL, lost node) has its job taken over by another after about this long.',
        ),
      // They wait on git, the API server and the forge, not the CPU: an incident storm (one commit
      // breaking hundreds of apps) needs many at once so that every incident is recorded and linked
      // within seconds.
      concurrency: z
        .number()
        .int()
        .min(1)
        .max(256)
        .default(32)
        .describe('Jobs each worker (rollback, verifier) runs at once.'),
    })
    .prefault({})
    .describe('The rollback and verify workers (BullMQ).'),
  apps: z
    .array(appSchema)
    .default([])
    .describe(
      'Per-app overrides of policy: the most specific matching entry (name, namespace, engine) wins.',
    ),
  chatops: chatopsSchema
    .prefault({})
    .describe('Who may command Rewind with `/rollback`, and the global pause switch.'),
  notifications: notificationsSchema
    .prefault({})
    .describe('Detected, NeedsHuman, Converged and Failed, once per transition; off unless configured.'),
  dashboard: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Serve the dashboard and its API.'),
      tokenEnv: envVarName
        .optional()
        .describe(
          'The environment variable holding a token the dashboard and its API ask for (Bearer, or Basic with it as password).',
        ),
    })
    .prefault({})
    .describe(
      'The read-only incident dashboard on the HTTP listener (/dashboard/, /api/incidents, /api/events).',
    ),
  alerts: alertsSchema
    .prefault({})
    .describe(
      'Alert-driven triggers: POST /webhooks/alertmanager and /webhooks/flux (404 unless configured).',
    ),
  server: z
    .strictObject({
      host: z
        .string()
        .min(1)
        .default('0.0.0.0')
        .describe(
          'The address to bind; `--host` wins. 0.0.0.0 (every interface) is what a Pod needs; 127.0.0.1 keeps it on this machine.',
        ),
      headersTimeout: duration
        .default('10s')
        .describe("A request's headers must all arrive within this long (408 and closed otherwise)."),
      requestTimeout: duration
        .default('30s')
        .describe('A whole request (headers and body) must arrive within this long.'),
      keepAliveTimeout: duration
        .default('5s')
        .describe('An idle keep-alive connection is closed after this long.'),
      maxConnections: z
        .number()
        .int()
        .min(2)
        .max(1_000_000)
        .default(1000)
        .describe('Open connections at most: one more is answered 503 at once and closed.'),
      probeReserve: z
        .number()
        .int()
        .min(0)
        .default(10)
        .describe(
          'Of maxConnections, how many only serve /healthz and /readyz (probes still answer when the rest are taken).',
        ),
    })
    .prefault({})
    .describe(
      'The HTTP listener of `rewind start` and `rewind worker --listen` (probes, metrics, webhooks, dashboard).',
    ),
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
