// The `rewind` command line. Composition root: the only place (with workers/ and src/server) that
// builds adapters. Modules are loaded by the command that needs them: a start stays cheap, and the
// image, which leaves src/sandbox and src/demo out, still runs every other command.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from './config/duration.ts';
import type { RewindConfig } from './config/index.ts';
import { InvalidInputError } from './domain/errors.ts';
import { OUTPUT_FORMATS, type OutputFormat, renderData } from './output-format.ts';
import type { Role, Runtime } from '../workers/runtime.ts';
import type { Logger } from './pipeline/ports.ts';
import type { Shutdown } from './server/shutdown.ts';
import type { SlackCommandEndpoint } from './server/slack-command.ts';

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

/** A duration ("180s", "1m30s", "500ms") in milliseconds, as Argo CD's settings take them. */
function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 180s, 2m or 500ms');
  return ms;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Rewind's version, from the package.json above this file (src/ in a checkout, dist/src/ when built). */
function packageVersion(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'rewind' && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/** The sandbox and the demo ship with the source only (the image leaves them out): say so. */
function requireSourceCheckout(command: 'sandbox' | 'demo'): void {
  if (existsSync(new URL(`./${command}/`, import.meta.url))) return;
  throw new InvalidInputError(
    `"rewind ${command}" is not part of this image; run it from a source checkout (git clone, npm ci, npx rewind ${command}).`,
  );
}

const outputOption = (): Option =>
  new Option('-o, --output <format>', 'print text, or the data as JSON or YAML')
    .choices(OUTPUT_FORMATS)
    .default('text');

const kubeconfigOption = (): Option =>
  new Option(
    '--kubeconfig <file>',
    'the cluster to talk to (default: kubernetes.kubeconfig in rewind.yaml, then KUBECONFIG, then ~/.kube/config, then in-cluster)',
  );

const configOption = (): Option =>
  new Option('-c, --config <file>', 'rewind.yaml (environment REWIND_* overrides apply)');

const APP_REF =
  'the app: ks/<namespace>/<name> (Flux Kustomization; <namespace>/<name> for short) or app/<namespace>/<name> (Argo CD Application)';

const program = new Command('rewind')
  .description(
    'Git-first GitOps rollback bot: reverts the offending commit in Git and proves the cluster converged back',
  )
  .version(packageVersion(), '-V, --version', "print Rewind's version")
  .showHelpAfterError();

program
  .command('sandbox')
  .description(
    'run a local Kubernetes-compatible sandbox cluster (API server, Deployment controller, Flux syncer, Argo CD application-controller)',
  )
  .option('--kubeconfig <file>', 'write a kubeconfig for the sandbox here', './kubeconfig')
  .option('--port <n>', 'port to listen on (0 = any free port)', integer, 0)
  .option('--host <addr>', 'address to listen on', '127.0.0.1')
  .option('--pod-ready-ms <n>', 'how long a simulated Pod takes to become Ready', integer, 500)
  .option(
    '--unready-image <glob>',
    'Pods with a matching image never become Ready (ImagePullBackOff); repeatable',
    collect,
    [],
  )
  .option(
    '--crash-image <glob>',
    'Pods with a matching image crash-loop (CrashLoopBackOff); repeatable',
    collect,
    [],
  )
  .option(
    '--probe-fail-image <glob>',
    'readiness probes of containers with a matching image fail: their Pods run but never become Ready; repeatable',
    collect,
    [],
  )
  .option(
    '--crash-backoff-base <duration>',
    "the crash-loop back-off's first wait, doubling up to 30 times it (the kubelet's: 10s)",
    duration,
    10_000,
  )
  .option(
    '--argo-reconcile-timeout <duration>',
    "how often Argo CD compares each Application with Git (Argo's timeout.reconciliation)",
    duration,
    180_000,
  )
  .option(
    '--argo-self-heal-timeout <duration>',
    'how long after a sync Argo CD waits before a self-heal',
    duration,
    5_000,
  )
  .option(
    '--forge',
    'also create a sample Flux fleet (bare Git repository, GitRepository, two Kustomizations) and serve a GitHub-compatible forge over it',
    false,
  )
  .option('--forge-token <token>', 'token the forge requires (default: a random one, printed)')
  .option(
    '--forge-user <login:permission:token>',
    'a person on the forge (repeatable): PERMISSION is admin, maintain, write, triage, read or none; they act through the REST API with "Authorization: token TOKEN"',
    (value: string, previous: string[]) => [...previous, value],
    [] as string[],
  )
  .option('--webhook-url <url>', 'where the forge sends signed webhooks')
  .option('--webhook-secret <secret>', 'secret for the webhook signatures', 'sandbox-webhook-secret')
  .option(
    '--rbac',
    "authorize every request with the Roles and bindings applied to the sandbox, as Kubernetes' RBAC does (serves https; the kubeconfig's token is the admin; `kubectl create token <serviceaccount>` mints others)",
    false,
  )
  .action(
    async (options: {
      kubeconfig: string;
      rbac: boolean;
      port: number;
      host: string;
      podReadyMs: number;
      unreadyImage: string[];
      crashImage: string[];
      probeFailImage: string[];
      crashBackoffBase: number;
      argoReconcileTimeout: number;
      argoSelfHealTimeout: number;
      forge: boolean;
      forgeToken?: string;
      forgeUser: string[];
      webhookUrl?: string;
      webhookSecret: string;
    }) => {
      requireSourceCheckout('sandbox');
      // Every flag is checked before anything starts: a bad one leaves no sandbox and no kubeconfig.
      const { parseForgeUser } = await import('./sandbox/forge/users.ts');
      let people;
      try {
        people = options.forgeUser.map(parseForgeUser);
      } catch (error) {
        throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
      }
      const { startSandbox } = await import('./sandbox/sandbox.ts');
      const sandbox = await startSandbox({
        kubeconfig: options.kubeconfig,
        port: options.port,
        host: options.host,
        podReadyMs: options.podReadyMs,
        unreadyImages: options.unreadyImage,
        crashImages: options.crashImage,
        probeFailImages: options.probeFailImage,
        crashBackoffBaseMs: options.crashBackoffBase,
        argoReconcileTimeoutMs: options.argoReconcileTimeout,
        argoSelfHealTimeoutMs: options.argoSelfHealTimeout,
        ...(options.rbac ? { access: { authorization: 'RBAC' as const } } : {}),
      });
      const stops: (() => Promise<void>)[] = [() => sandbox.stop()];
      if (options.forge) {
        const { createFleet } = await import('./sandbox/scenario.ts');
        const { startSandboxForge } = await import('./sandbox/forge/server.ts');
        const { randomBytes } = await import('node:crypto');
        const fleet = await createFleet({ sandbox });
        const token = options.forgeToken ?? `ghp_sandbox${randomBytes(16).toString('hex')}`;
        const forge = await startSandboxForge({
          repoDir: fleet.remote,
          owner: 'fleet-org',
          repo: 'fleet',
          token,
          host: options.host,
          users: [{ login: 'alice', email: 'alice@example.com', name: 'Alice Developer' }, ...people],
          ...(options.webhookUrl
            ? { webhook: { url: options.webhookUrl, secret: options.webhookSecret } }
            : {}),
        });
        stops.unshift(
          () => forge.stop(),
          () => fleet.cleanup(),
        );
        console.error(
          `forge ready ${forge.url} (repository fleet-org/fleet = ${fleet.remote}; token ${token}; work clone ${fleet.workDir})`,
        );
      }
      console.log(`sandbox ready ${sandbox.url}`);
      console.error(
        `kubeconfig written to ${sandbox.kubeconfigPath}; try: kubectl --kubeconfig ${sandbox.kubeconfigPath} get deployments`,
      );
      const { untilStopped } = await import('./sandbox/stop-signal.ts');
      await untilStopped();
      for (const stop of stops) await stop().catch(() => undefined);
    },
  );

/**
 * The configuration; `--kubeconfig` wins over the file and REWIND_KUBERNETES_KUBECONFIG. Commands
 * that use no secret (status, history, pause, resume, cancel) pass `secrets: 'unused'`: the secrets
 * the file names need not be exported for them.
 */
async function config(
  file: string | undefined,
  kubeconfig?: string,
  secrets: 'required' | 'unused' = 'required',
): Promise<RewindConfig> {
  const { loadConfig } = await import('./config/index.ts');
  return loadConfig({
    ...(file ? { file } : {}),
    env: kubeconfig ? { ...process.env, REWIND_KUBERNETES_KUBECONFIG: kubeconfig } : process.env,
    onWarning: (message) => console.error(`warning: ${message}`),
    requireSecrets: secrets === 'required',
  });
}

/** The Slack slash command, when a signing secret is configured (chatops.slack.signingSecretEnv). */
async function slackEndpoint(
  cfg: RewindConfig,
  runtime: Runtime,
  log: Logger,
  shutdown: Shutdown,
): Promise<SlackCommandEndpoint | undefined> {
  const slack = cfg.chatops.slack;
  const secret = slack.signingSecretEnv ? process.env[slack.signingSecretEnv] : undefined;
  if (!secret) return undefined;
  const { createSlackCommandEndpoint } = await import('./server/slack-command.ts');
  const { SlackUserGroups } = await import('./chatops/slack-user-groups.ts');
  const { redisConnection } = await import('./queue/connection.ts');
  const token = slack.botTokenEnv ? process.env[slack.botTokenEnv] : undefined;
  const groups = token ? new SlackUserGroups({ token }) : undefined;
  return createSlackCommandEndpoint({
    signingSecret: secret,
    config: slack,
    executor: runtime.chatops.slack,
    ...(groups ? { groupsOf: (userId: string) => groups.groupsOf(userId) } : {}),
    dedupe: {
      redis: shutdown.redis('slack replay guard', redisConnection(cfg.redis)),
      prefix: `${cfg.redis.prefix}:slack-request:`,
    },
    log,
  });
}

interface ServeOptions {
  config?: string;
  kubeconfig?: string;
  listen?: number;
  host?: string;
}

async function serve(roles: readonly Role[], options: ServeOptions): Promise<void> {
  const { startRuntime } = await import('../workers/runtime.ts');
  const { createLogger } = await import('./logging.ts');
  const { listenHttp } = await import('./server/http.ts');
  const { Shutdown } = await import('./server/shutdown.ts');
  const { listen } = options;
  const cfg = await config(options.config, options.kubeconfig);
  const log = createLogger();
  const shutdown = new Shutdown(log);
  // The port first: when it is taken, nothing else has started yet.
  const token = cfg.dashboard.tokenEnv === undefined ? undefined : process.env[cfg.dashboard.tokenEnv];
  const dashboard = { enabled: cfg.dashboard.enabled, ...(token ? { token } : {}) };
  const { host: configuredHost, ...limits } = cfg.server;
  const server =
    listen === undefined
      ? undefined
      : await listenHttp({ port: listen, host: options.host ?? configuredHost, limits, log, dashboard });
  if (server) {
    shutdown.add('http server', () => server.close());
    console.error(`listening on http://${server.address}`);
  }
  const runtime = await startRuntime({ config: cfg, roles, log, env: process.env }).catch(
    async (error: unknown) => {
      await shutdown.run();
      throw error;
    },
  );
  shutdown.add('runtime', () => runtime.close());
  if (server) {
    const { redisConnection } = await import('./queue/connection.ts');
    const secretEnv = cfg.forge.type === 'github' ? cfg.forge.webhookSecretEnv : undefined;
    const secret = secretEnv ? process.env[secretEnv] : undefined;
    const github = secret
      ? {
          secret,
          redis: shutdown.redis('github webhook dedupe', redisConnection(cfg.redis)),
          prefix: cfg.redis.prefix,
        }
      : undefined;
    let alerts: Parameters<typeof server.serve>[3];
    if (cfg.alerts.alertmanager || cfg.alerts.flux) {
      const { alertEndpoints } = await import('./server/alert-webhooks.ts');
      alerts = alertEndpoints({
        config: cfg.alerts,
        env: process.env,
        redis: shutdown.redis('alert dedupe', redisConnection(cfg.redis)),
        prefix: cfg.redis.prefix,
        raise: runtime.raiseAlert,
        log,
      });
    }
    server.serve(runtime, github, await slackEndpoint(cfg, runtime, log, shutdown), alerts);
  }
  await new Promise<void>((resolve) => {
    const drain = (): void => {
      console.error('draining: finishing running jobs, then exiting');
      void shutdown.run().then((ok) => {
        if (!ok) process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', drain);
    process.once('SIGTERM', drain);
  });
}

const hostOption = (): Option =>
  new Option(
    '--host <addr>',
    'address to listen on (default: server.host in rewind.yaml, 0.0.0.0 = every interface, as a container needs; 127.0.0.1 keeps it on this machine)',
  );

program
  .command('start')
  .description('run every role (detector, rollback worker, verifier) in one process')
  .addOption(configOption())
  .addOption(kubeconfigOption())
  .option(
    '--listen <port>',
    'serve /healthz, /readyz, /metrics and the dashboard on this port',
    integer,
    8080,
  )
  .addOption(hostOption())
  .action(async (options: ServeOptions) => {
    await serve(['detector', 'rollback', 'verifier'], options);
  });

program
  .command('worker')
  .description('run one role: detector | rollback | verifier')
  .argument('<role>', 'detector, rollback or verifier')
  .addOption(configOption())
  .addOption(kubeconfigOption())
  .option('--listen <port>', 'serve /healthz, /readyz, /metrics and the dashboard on this port', integer)
  .addOption(hostOption())
  .action(async (role: string, options: ServeOptions) => {
    if (!['detector', 'rollback', 'verifier'].includes(role)) {
      throw new InvalidArgumentError(`unknown role "${role}": use detector, rollback or verifier`);
    }
    await serve([role as Role], options);
  });

program
  .command('rollback')
  .description(
    'roll an app back now: revert in Git, reconcile, verify (the same pipeline as automatic rollbacks); each stage is reported on stderr as it happens',
  )
  .argument('<app>', APP_REF)
  .option(
    '--to <sha>',
    "the good commit to go back to, full or abbreviated (4+ hex characters, resolved in the app's Git source; default: the last good revision Flux or Rewind knows)",
  )
  .option('--dry-run', 'prepare the revert and print its diff, push nothing', false)
  .addOption(outputOption())
  .addOption(configOption())
  .addOption(kubeconfigOption())
  .action(
    async (
      app: string,
      options: { to?: string; dryRun: boolean; output: OutputFormat; config?: string; kubeconfig?: string },
    ) => {
      const { describeIncident, manualRollback } = await import('../workers/manual-rollback.ts');
      const { isTerminal, stageTimings } = await import('./domain/incident.ts');
      const { createLogger } = await import('./logging.ts');
      const result = await manualRollback({
        config: await config(options.config, options.kubeconfig),
        app,
        ...(options.to ? { to: options.to } : {}),
        dryRun: options.dryRun,
        requestedBy: who(),
        log: createLogger({
          level: process.env['REWIND_LOG_LEVEL'] ?? 'warn',
          destination: process.stderr,
        }),
        progress: (line) => console.error(line),
        env: process.env,
      });
      const { record, diff } = result;
      if (options.output !== 'text') {
        const data = record && { ...record, timings: stageTimings(record), ...(diff ? { diff } : {}) };
        process.stdout.write(renderData(options.output, data ?? null));
      } else if (record) {
        for (const line of describeIncident(record)) console.log(line);
        const last = record.conditions.at(-1);
        if (last && !isTerminal(last.type)) console.log('  (not finished)');
        if (diff) console.log(`\nthe revert a real run would push:\n\n${diff}`);
      }
      process.exitCode = result.ok ? 0 : 1;
    },
  );

program
  .command('status')
  .description('list incidents (of one app) with their state, stage timings and age')
  .argument('[app]', APP_REF)
  .addOption(outputOption())
  .option('--limit <n>', 'how many incidents', integer, 20)
  .addOption(configOption())
  .action(
    async (app: string | undefined, options: { config?: string; output: OutputFormat; limit: number }) => {
      const { printStatus } = await import('../workers/status.ts');
      process.exitCode = await printStatus({
        config: await config(options.config, undefined, 'unused'),
        output: options.output,
        limit: options.limit,
        ...(app ? { app } : {}),
        print: (text) => process.stdout.write(text),
      });
    },
  );

const who = (): string => process.env['USER'] ?? 'cli';

for (const pause of [true, false]) {
  const command = program
    .command(pause ? 'pause' : 'resume')
    .description(
      pause
        ? 'pause automatic rollbacks of one app, or of every app without one (as /rollback pause does)'
        : 'resume automatic rollbacks of one app, or of every app without one (as /rollback resume does)',
    )
    .argument('[app]', APP_REF);
  if (pause) command.option('--reason <text>', 'why, recorded with who paused');
  command
    .addOption(configOption())
    .addOption(kubeconfigOption())
    .action(
      async (app: string | undefined, options: { reason?: string; config?: string; kubeconfig?: string }) => {
        const { runPause } = await import('../workers/controls.ts');
        process.exitCode = await runPause({
          config: await config(options.config, options.kubeconfig, 'unused'),
          who: who(),
          pause,
          ...(app ? { app } : {}),
          ...(options.reason ? { reason: options.reason } : {}),
          ...(options.config ? { configFile: options.config } : {}),
          print: (line) => console.log(line),
        });
      },
    );
}

program
  .command('cancel')
  .description('stop an incident that has not pushed its revert yet (as /rollback cancel does)')
  .argument('<incident>', 'the incident id, as `rewind status` lists it')
  .addOption(configOption())
  .action(async (incident: string, options: { config?: string }) => {
    const { runCancel } = await import('../workers/controls.ts');
    const { createLogger } = await import('./logging.ts');
    process.exitCode = await runCancel({
      config: await config(options.config, undefined, 'unused'),
      who: who(),
      incident,
      log: createLogger({ level: process.env['REWIND_LOG_LEVEL'] ?? 'warn', destination: process.stderr }),
      print: (line) => console.log(line),
    });
  });

program
  .command('history')
  .description(
    "print a Deployment's ReplicaSet history joined with the Git commits that produced each template",
  )
  .argument('[app]', APP_REF)
  .option('--deployment <ns/name>', 'one Deployment (alone: without Git)')
  .addOption(outputOption())
  .addOption(configOption())
  .addOption(kubeconfigOption())
  .action(
    async (
      app: string | undefined,
      options: { deployment?: string; output: OutputFormat; config?: string; kubeconfig?: string },
    ) => {
      if (!app && !options.deployment)
        throw new InvalidArgumentError(
          'name an app (ks/<ns>/<name>, app/<ns>/<name>) or --deployment <ns/name>',
        );
      const cfg = await config(options.config, options.kubeconfig, 'unused');
      const { KubeCluster, loadKubeConfig } = await import('./cluster/kube.ts');
      const { gitWorkspaceFor } = await import('../workers/runtime.ts');
      const { loadHistory, runHistory } = await import('./history/rollout-git-history.ts');
      const { historyRows } = await import('./history/format.ts');
      const cluster = new KubeCluster(loadKubeConfig(cfg.kubernetes.kubeconfig));
      await cluster.ping();
      const request = {
        cluster,
        ...(app ? { git: gitWorkspaceFor(cfg, process.env), app } : {}),
        ...(options.deployment ? { deployment: options.deployment } : {}),
      };
      process.stdout.write(
        options.output === 'text'
          ? await runHistory({ ...request, json: false })
          : renderData(options.output, historyRows(await loadHistory(request))),
      );
    },
  );

program
  .command('demo')
  .description('run the demo on a fresh sandbox cluster')
  .option(
    '--forge <type>',
    'direct-push (revert pushed to main) or github (through a pull request on the sandbox forge)',
    'direct-push',
  )
  .option(
    '--engine <engine>',
    'flux (Kustomizations), argo (Argo CD Applications) or all (each in turn)',
    'flux',
  )
  .option(
    '--chatops',
    'ChatOps: a read and a write user comment /rollback on an issue of the sandbox forge',
    false,
  )
  .option(
    '--keep',
    'set up the sandbox, the Flux fleet, a rewind.yaml and Rewind itself, print what to try next, and keep it all running until Ctrl-C',
    false,
  )
  .option('--dir <dir>', 'with --keep: where the kubeconfig, the fleet and rewind.yaml go', 'rewind-demo')
  .option('--listen <port>', "with --keep: the dashboard's port (default: a free one)", integer)
  .action(
    async (options: {
      forge: string;
      engine: string;
      chatops: boolean;
      keep: boolean;
      dir: string;
      listen?: number;
    }) => {
      requireSourceCheckout('demo');
      if (options.keep) {
        if (options.chatops || options.engine !== 'flux' || options.forge !== 'direct-push')
          throw new InvalidArgumentError(
            '--keep runs the Flux fleet with direct pushes: leave out --chatops, --engine and --forge',
          );
        const { runKeptDemo } = await import('./demo/keep.ts');
        process.exitCode = await runKeptDemo({
          out: process.stdout,
          dir: options.dir,
          ...(options.listen === undefined ? {} : { listen: options.listen }),
        });
        return;
      }
      if (options.chatops) {
        const { runChatOpsDemo } = await import('./demo/chatops.ts');
        process.exitCode = await runChatOpsDemo({ out: process.stdout });
        return;
      }
      if (options.forge !== 'direct-push' && options.forge !== 'github') {
        throw new InvalidArgumentError(`unknown forge "${options.forge}": use direct-push or github`);
      }
      const { DEMO_ENGINES, runDemo } = await import('./demo/demo.ts');
      const engine = DEMO_ENGINES.find((e) => e === options.engine);
      if (!engine) {
        throw new InvalidArgumentError(`unknown engine "${options.engine}": use ${DEMO_ENGINES.join(', ')}`);
      }
      process.exitCode = await runDemo({ out: process.stdout, forge: options.forge, engine });
    },
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Known failures carry an actionable message; print it without a stack trace.
  const { isRewindError, redact } = await import('./domain/errors.ts');
  console.error(`rewind: ${redact(error instanceof Error ? error.message : String(error))}`);
  if (!isRewindError(error) && process.env['REWIND_DEBUG']) console.error(error);
  process.exitCode = isRewindError(error) && error.code === 'CONFIG_INVALID' ? 78 : 1;
}
