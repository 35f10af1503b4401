// The `rewind` command line. Composition root: the only place (with workers/ and src/server) that
// builds adapters.
import { Command, InvalidArgumentError } from 'commander';
import type { RewindConfig } from './config/index.ts';
import { parseGoDuration } from './sandbox/flux-duration.ts';
import type { Role, Runtime } from '../workers/runtime.ts';
import type { Logger } from './pipeline/ports.ts';
import type { SlackCommandEndpoint } from './server/slack-command.ts';

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

/** A Go duration ("180s", "1m30s", "500ms") in milliseconds, as Argo CD's settings take them. */
function duration(value: string): number {
  try {
    const ms = parseGoDuration(value);
    if (ms >= 0) return ms;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError('expected a duration such as 180s, 2m or 500ms');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = new Command('rewind')
  .description(
    'Git-first GitOps rollback bot: reverts the offending commit in Git and proves the cluster converged back',
  )
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
  .action(
    async (options: {
      kubeconfig: string;
      port: number;
      host: string;
      podReadyMs: number;
      unreadyImage: string[];
      crashImage: string[];
      crashBackoffBase: number;
      argoReconcileTimeout: number;
      argoSelfHealTimeout: number;
      forge: boolean;
      forgeToken?: string;
      forgeUser: string[];
      webhookUrl?: string;
      webhookSecret: string;
    }) => {
      const { startSandbox } = await import('./sandbox/sandbox.ts');
      const sandbox = await startSandbox({
        kubeconfig: options.kubeconfig,
        port: options.port,
        host: options.host,
        podReadyMs: options.podReadyMs,
        unreadyImages: options.unreadyImage,
        crashImages: options.crashImage,
        crashBackoffBaseMs: options.crashBackoffBase,
        argoReconcileTimeoutMs: options.argoReconcileTimeout,
        argoSelfHealTimeoutMs: options.argoSelfHealTimeout,
      });
      const stops: (() => Promise<void>)[] = [() => sandbox.stop()];
      if (options.forge) {
        const { createFleet } = await import('./sandbox/scenario.ts');
        const { startSandboxForge } = await import('./sandbox/forge/server.ts');
        const { parseForgeUser } = await import('./sandbox/forge/users.ts');
        let people;
        try {
          people = options.forgeUser.map(parseForgeUser);
        } catch (error) {
          throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
        }
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
      await new Promise<void>((resolve) => {
        const shutdown = (): void => {
          void (async () => {
            for (const stop of stops) await stop().catch(() => undefined);
          })().then(resolve);
        };
        process.once('SIGINT', shutdown);
        process.once('SIGTERM', shutdown);
      });
    },
  );

async function config(file: string | undefined): Promise<RewindConfig> {
  const { loadConfig } = await import('./config/index.ts');
  return loadConfig({
    ...(file ? { file } : {}),
    env: process.env,
    onWarning: (message) => console.error(`warning: ${message}`),
  });
}

/** The Slack slash command, when a signing secret is configured (chatops.slack.signingSecretEnv). */
async function slackEndpoint(
  cfg: RewindConfig,
  runtime: Runtime,
  log: Logger,
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
    dedupe: { redis: redisConnection(cfg.redis), prefix: `${cfg.redis.prefix}:slack-request:` },
    log,
  });
}

async function serve(
  file: string | undefined,
  roles: readonly Role[],
  listen: number | undefined,
): Promise<void> {
  const { startRuntime } = await import('../workers/runtime.ts');
  const { createLogger } = await import('./logging.ts');
  const { listenHttp } = await import('./server/http.ts');
  const cfg = await config(file);
  const log = createLogger();
  // The port first: when it is taken, nothing else has started yet.
  const server = listen === undefined ? undefined : await listenHttp({ port: listen, log });
  const runtime = await startRuntime({ config: cfg, roles, log, env: process.env }).catch(
    async (error: unknown) => {
      await server?.close();
      throw error;
    },
  );
  let webhookRedis: { quit(): Promise<unknown> } | undefined;
  if (server) {
    const secretEnv = cfg.forge.type === 'github' ? cfg.forge.webhookSecretEnv : undefined;
    const secret = secretEnv ? process.env[secretEnv] : undefined;
    let github: Parameters<typeof server.serve>[1];
    if (secret) {
      const { redisConnection } = await import('./queue/connection.ts');
      const redis = redisConnection(cfg.redis);
      webhookRedis = redis;
      github = { secret, redis, prefix: cfg.redis.prefix };
    }
    server.serve(runtime, github, await slackEndpoint(cfg, runtime, log));
  }
  await new Promise<void>((resolve) => {
    const drain = (): void => {
      console.error('draining: finishing running jobs, then exiting');
      void (async () => {
        await server?.close();
        await runtime.close();
        await webhookRedis?.quit();
        resolve();
      })();
    };
    process.once('SIGINT', drain);
    process.once('SIGTERM', drain);
  });
}

program
  .command('start')
  .description('run every role (detector, rollback worker, verifier) in one process')
  .option('-c, --config <file>', 'rewind.yaml (environment REWIND_* overrides apply)')
  .option('--listen <port>', 'serve /healthz, /readyz and /metrics on this port', integer, 8080)
  .action(async (options: { config?: string; listen: number }) => {
    await serve(options.config, ['detector', 'rollback', 'verifier'], options.listen);
  });

program
  .command('worker')
  .description('run one role: detector | rollback | verifier')
  .argument('<role>', 'detector, rollback or verifier')
  .option('-c, --config <file>', 'rewind.yaml (environment REWIND_* overrides apply)')
  .option('--listen <port>', 'serve /healthz, /readyz and /metrics on this port', integer)
  .action(async (role: string, options: { config?: string; listen?: number }) => {
    if (!['detector', 'rollback', 'verifier'].includes(role)) {
      throw new InvalidArgumentError(`unknown role "${role}": use detector, rollback or verifier`);
    }
    await serve(options.config, [role as Role], options.listen);
  });

program
  .command('rollback')
  .description(
    'roll an app back now: revert in Git, reconcile, verify (the same pipeline as automatic rollbacks)',
  )
  .argument('<app>', 'the Flux Kustomization, as <namespace>/<name> (namespace defaults to flux-system)')
  .option(
    '--to <sha>',
    'the good commit to go back to (default: the last good revision Flux or Rewind knows)',
  )
  .option('--dry-run', 'prepare and report the revert, push nothing', false)
  .option('-c, --config <file>', 'rewind.yaml (environment REWIND_* overrides apply)')
  .action(async (app: string, options: { to?: string; dryRun: boolean; config?: string }) => {
    const { manualRollback } = await import('../workers/manual-rollback.ts');
    const { createLogger } = await import('./logging.ts');
    process.exitCode = await manualRollback({
      config: await config(options.config),
      app,
      ...(options.to ? { to: options.to } : {}),
      dryRun: options.dryRun,
      requestedBy: process.env['USER'] ?? 'cli',
      log: createLogger({ level: process.env['REWIND_LOG_LEVEL'] ?? 'warn', destination: process.stderr }),
      print: (line) => console.log(line),
      env: process.env,
    });
  });

program
  .command('status')
  .description('list incidents with their state and stage timings')
  .option('-c, --config <file>', 'rewind.yaml (environment REWIND_* overrides apply)')
  .option('--json', 'print JSON', false)
  .option('--limit <n>', 'how many incidents', integer, 20)
  .action(async (options: { config?: string; json: boolean; limit: number }) => {
    const { printStatus } = await import('../workers/status.ts');
    process.exitCode = await printStatus({
      config: await config(options.config),
      json: options.json,
      limit: options.limit,
      print: (l) => console.log(l),
    });
  });

program
  .command('history')
  .description(
    "print a Deployment's ReplicaSet history joined with the Git commits that produced each template",
  )
  .argument('[app]', 'the Flux Kustomization, as <namespace>/<name>')
  .option('--deployment <ns/name>', 'one Deployment (alone: without Git)')
  .option('--json', 'print JSON', false)
  .option('-c, --config <file>', 'rewind.yaml (environment REWIND_* overrides apply)')
  .action(
    async (app: string | undefined, options: { deployment?: string; json: boolean; config?: string }) => {
      if (!app && !options.deployment)
        throw new InvalidArgumentError('name an app (<namespace>/<name>) or --deployment <ns/name>');
      const cfg = await config(options.config);
      const { KubeCluster, loadKubeConfig } = await import('./cluster/kube.ts');
      const { gitWorkspaceFor } = await import('../workers/runtime.ts');
      const { runHistory } = await import('./history/rollout-git-history.ts');
      const cluster = new KubeCluster(loadKubeConfig(cfg.kubernetes.kubeconfig));
      await cluster.ping();
      const git = gitWorkspaceFor(cfg, process.env);
      process.stdout.write(
        await runHistory({
          cluster,
          ...(app ? { git, app } : {}),
          ...(options.deployment ? { deployment: options.deployment } : {}),
          json: options.json,
        }),
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
  .action(async (options: { forge: string; engine: string; chatops: boolean }) => {
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
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Known failures carry an actionable message; print it without a stack trace.
  const { isRewindError, redact } = await import('./domain/errors.ts');
  console.error(`rewind: ${redact(error instanceof Error ? error.message : String(error))}`);
  if (!isRewindError(error) && process.env['REWIND_DEBUG']) console.error(error);
  process.exitCode = isRewindError(error) && error.code === 'CONFIG_INVALID' ? 78 : 1;
}
