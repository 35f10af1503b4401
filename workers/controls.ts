// `rewind pause [app]`, `rewind resume [app]`, `rewind cancel <incident>`: what the ChatOps commands
// of the same names do (src/chatops/controls.ts), asked from a shell. Pause and resume write to the
// cluster only; cancel reads and writes the incident in Redis only.
import { KubeCluster, loadKubeConfig } from '../src/cluster/kube.ts';
import { cancelIncident, setPaused } from '../src/chatops/controls.ts';
import { requestedBy } from '../src/chatops/requested-by.ts';
import type { RewindConfig } from '../src/config/index.ts';
import { appLabel, parseAppRef } from '../src/domain/app-ref.ts';
import { PAUSED_ANNOTATION } from '../src/pipeline/durable-ledger.ts';
import { type Logger, systemClock } from '../src/pipeline/ports.ts';
import { assertRedisReachable, redisConnection } from '../src/queue/connection.ts';
import { RedisIncidentStore } from '../src/queue/incident-store.ts';

export interface ControlOptions {
  config: RewindConfig;
  /** The person at the shell ($USER). */
  who: string;
  print: (line: string) => void;
}

/** Pauses (`reason` may say why) or resumes automatic rollbacks; resolves to the exit code. */
export async function runPause(
  options: ControlOptions & { app?: string; pause: boolean; reason?: string; configFile?: string },
): Promise<number> {
  const { config, print } = options;
  // The hint repeats the config file the command was given, so it can be pasted as it is.
  const withConfig = options.configFile ? ` -c ${options.configFile}` : '';
  const app = options.app === undefined ? undefined : parseAppRef(options.app);
  const cluster = new KubeCluster(loadKubeConfig(config.kubernetes.kubeconfig));
  await cluster.ping();
  const by = options.pause
    ? requestedBy({
        who: options.who,
        where: 'rewind CLI',
        ...(options.reason ? { why: options.reason } : {}),
      })
    : null;
  const outcome = await setPaused({ cluster, config }, app, by);
  switch (outcome.kind) {
    case 'no-such-app':
      print(`There is no ${appLabel(app!)} in the cluster at ${cluster.server}. Nothing was changed.`);
      return 1;
    case 'app':
      print(
        options.pause
          ? `Automatic rollbacks of ${appLabel(app!)} are paused (${PAUSED_ANNOTATION}=true on the app). \`rewind resume ${options.app}${withConfig}\` restarts them.`
          : `Automatic rollbacks of ${appLabel(app!)} are on again.`,
      );
      return 0;
    case 'every-app':
      print(
        options.pause
          ? `Automatic rollbacks of every app are paused (ConfigMap ${outcome.configMap.namespace}/${outcome.configMap.name}). \`rewind resume${withConfig}\` restarts them.`
          : `Automatic rollbacks of every app are on again (apps paused one by one stay paused).`,
      );
      return 0;
  }
}

/** Cancels an incident that has not pushed its revert; resolves to the exit code. */
export async function runCancel(
  options: ControlOptions & { incident: string; log: Logger },
): Promise<number> {
  const { config, print, incident } = options;
  await assertRedisReachable(config.redis);
  const redis = redisConnection(config.redis);
  try {
    const incidents = new RedisIncidentStore(redis, config.redis.prefix, config.redis.incidentRetentionMs);
    const by = requestedBy({ who: options.who, where: 'rewind CLI' });
    const outcome = await cancelIncident({ incidents, clock: systemClock, log: options.log }, incident, by);
    switch (outcome.kind) {
      case 'no-such-incident':
        print(`No incident ${incident} (\`rewind status\` lists them).`);
        return 1;
      case 'ended':
        print(`Incident ${incident} already ended: ${outcome.last.type} (${outcome.last.reason}).`);
        return 1;
      case 'pushed':
        print(
          `Incident ${incident} already pushed its revert (${outcome.last.type}${outcome.record.details.pr ? `, pull request #${outcome.record.details.pr.number}` : ''}); it cannot be cancelled. Close the pull request to stop it, or revert the revert.`,
        );
        return 1;
      case 'moved':
        print(`Incident ${incident} moved on while cancelling; \`rewind status\` shows where it is.`);
        return 1;
      case 'cancelled':
        print(`Incident ${incident} is cancelled (Ignored, Cancelled by ${by}).`);
        return 0;
    }
  } finally {
    redis.disconnect();
  }
}
