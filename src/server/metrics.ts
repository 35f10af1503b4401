// Rewind's Prometheus metrics (prom-client). One Registry per runtime, never prom-client's global
// one: adapters are instances, and tests run several runtimes in one process. Incident outcomes and
// stage timings are observed by the step that records the end of an incident (after its
// compare-and-set save succeeded, so a retried or concurrent job cannot count it twice); forge and
// git calls by hooks on the clients the runtime builds; queue depths, informer health and the
// detector's counter are read when Prometheus scrapes, each read bounded in time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { type ConditionType, isTerminal, stageTimings, type StageTimings } from '../domain/incident.ts';
import type { IncidentRecord } from '../pipeline/incident-record.ts';
import type { InformerHealth } from './runtime-port.ts';

/** Job counts of one BullMQ queue (Queue.getJobCounts). */
export interface QueueDepthSource {
  readonly name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

export interface MetricSources {
  readonly queues: () => readonly QueueDepthSource[];
  /** Undefined in a process that runs no detector (another role, or not the leader). */
  readonly informers: () => readonly InformerHealth[] | undefined;
  readonly detectorEnqueued: () => number | undefined;
  /** Recent incident records (for the gauge of incidents by current condition). */
  readonly recentIncidents: () => Promise<readonly IncidentRecord[]>;
  /** Per scrape-time read (default 2 s): a slow Redis leaves that family empty, the scrape goes on. */
  readonly collectTimeoutMs?: number;
}

export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/** Stage label values, in the order an incident passes them (snake_case, as Prometheus labels go). */
const STAGES: readonly [keyof StageTimings, ConditionType, string][] = [
  ['detect', 'Detected', 'detect'],
  ['locate', 'Located', 'locate'],
  ['prepare', 'RevertPrepared', 'prepare_revert'],
  ['pullRequest', 'PullRequestOpened', 'open_pull_request'],
  ['merge', 'Merged', 'merge'],
  ['reconcileRequest', 'ReconcileRequested', 'request_reconcile'],
  ['converge', 'Converged', 'converge'],
];

// From a sub-second step to an hour-long review wait.
const INCIDENT_BUCKETS = [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 14_400];
const CALL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A git subcommand as a label: a plain word, never an argument (arguments can carry URLs). */
function gitCommandLabel(command: string): string {
  return /^[a-z][a-z0-9-]{0,30}$/.test(command) ? command : 'other';
}

/**
 * The route template of a forge request (`/repos/{owner}/{repo}/pulls`), never the expanded URL:
 * Octokit passes templates, but `paginate` sends expanded URLs (with the API base path), which are
 * folded back so owner, repository and numbers never become label values.
 */
export function routeLabel(url: string): string {
  const path = (url.replace(/^https?:\/\/[^/]+/, '').split('?')[0] ?? '').replace(/^\/api\/v3(?=\/)/, '');
  return path
    .replace(/^\/repos\/[^/]+\/[^/]+/, '/repos/{owner}/{repo}')
    .replace(/\/pulls\/\d+/, '/pulls/{pull_number}')
    .replace(/\/issues\/\d+/, '/issues/{issue_number}')
    .replace(/\/\d+(?=\/|$)/g, '/{id}')
    .slice(0, 120);
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class RewindMetrics {
  readonly registry = new Registry();
  private readonly stageDuration: Histogram<'engine' | 'stage'>;
  private readonly timeToConverge: Histogram<'engine'>;
  private readonly outcomes: Counter<'engine' | 'outcome' | 'reason'>;
  private readonly forgeRequests: Counter<'method' | 'route' | 'status'>;
  private readonly forgeDuration: Histogram<'method' | 'route'>;
  private readonly gitCommands: Counter<'command' | 'result'>;
  private readonly gitDuration: Histogram<'command'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    const timeoutMs = sources.collectTimeoutMs ?? 2000;
    collectDefaultMetrics({ register: this.registry });
    this.stageDuration = new Histogram({
      name: 'rewind_incident_stage_duration_seconds',
      help: 'Time an incident spent reaching each stage from the previous one (detect: from the failure start), observed once when the incident ends.',
      labelNames: ['engine', 'stage'],
      buckets: INCIDENT_BUCKETS,
      registers,
    });
    this.timeToConverge = new Histogram({
      name: 'rewind_incident_time_to_converge_seconds',
      help: 'From the failure start (or its detection) to Converged, per incident that converged.',
      labelNames: ['engine'],
      buckets: INCIDENT_BUCKETS,
      registers,
    });
    this.outcomes = new Counter({
      name: 'rewind_incident_outcomes_total',
      help: 'Incidents ended, by engine, final condition (outcome) and reason.',
      labelNames: ['engine', 'outcome', 'reason'],
      registers,
    });
    this.forgeRequests = new Counter({
      name: 'rewind_forge_requests_total',
      help: 'HTTP requests to the forge API (each retry counts), by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.forgeDuration = new Histogram({
      name: 'rewind_forge_request_duration_seconds',
      help: 'Duration of HTTP requests to the forge API, by method and route template.',
      labelNames: ['method', 'route'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.gitCommands = new Counter({
      name: 'rewind_git_commands_total',
      help: 'git processes Rewind ran, by subcommand and result (ok or error).',
      labelNames: ['command', 'result'],
      registers,
    });
    this.gitDuration = new Histogram({
      name: 'rewind_git_command_duration_seconds',
      help: 'Duration of git processes Rewind ran, by subcommand.',
      labelNames: ['command'],
      buckets: CALL_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'rewind_queue_jobs',
      help: 'Jobs in each BullMQ queue by state, read at scrape time.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        await Promise.all(
          sources.queues().map(async (queue) => {
            const counts = await within(
              queue.getJobCounts(...QUEUE_STATES),
              timeoutMs,
              `job counts of ${queue.name}`,
            ).catch(() => undefined);
            for (const state of QUEUE_STATES)
              if (counts) this.set({ queue: queue.name, state }, counts[state] ?? 0);
          }),
        );
      },
    });
    new Gauge({
      name: 'rewind_incidents',
      help: 'Recent incidents (the last 500 records) by current condition, read at scrape time.',
      labelNames: ['condition'],
      registers,
      async collect() {
        this.reset();
        const records = await within(sources.recentIncidents(), timeoutMs, 'incident records').catch(
          () => undefined,
        );
        for (const record of records ?? [])
          this.inc({ condition: record.conditions.at(-1)?.type ?? 'Unknown' });
      },
    });
    const informerLabels = ['resource', 'namespace'] as const;
    const informerLabel = (i: InformerHealth) => ({ resource: i.resource, namespace: i.namespace });
    // One gauge per informer health figure, each read from sources.informers() at scrape time.
    const informerGauge = (name: string, help: string, value: (i: InformerHealth) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: informerLabels,
        registers,
        collect() {
          this.reset();
          for (const i of sources.informers() ?? []) this.set(informerLabel(i), value(i));
        },
      });
    };
    const secondsSince = (at: number | undefined): number => (at ? (Date.now() - at) / 1000 : -1);
    informerGauge(
      'rewind_informer_seconds_since_event',
      'Seconds since the informer last received a watch event or bookmark (-1: none yet).',
      (i) => secondsSince(i.lastEventAt),
    );
    informerGauge(
      'rewind_informer_seconds_since_sync',
      'Seconds since the informer last knew its cache current (event, bookmark, list or accepted watch); liveness fails past detection.wedgedAfter.',
      (i) => secondsSince(i.lastSyncAt),
    );
    informerGauge(
      'rewind_informer_connected',
      '1 when the informer last reached the API server, 0 after a failed list or watch.',
      (i) => (i.connected ? 1 : 0),
    );
    new Counter({
      name: 'rewind_informer_lists_total',
      help: 'Full lists (the first one, re-lists after 410 Gone and periodic resyncs) per informer.',
      labelNames: informerLabels,
      registers,
      collect() {
        this.reset();
        for (const i of sources.informers() ?? []) this.inc(informerLabel(i), i.lists);
      },
    });
    new Counter({
      name: 'rewind_detector_enqueued_total',
      help: 'Rollback jobs the detector of this process enqueued.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.detectorEnqueued() ?? 0);
      },
    });
  }

  /**
   * Called once per recorded transition (RecorderDeps.onTransition): when it ended the incident,
   * counts the outcome and observes the stage timings. Stages reached before an earlier end (a
   * NeedsHuman incident a person merged later) were observed then and are not observed again.
   */
  incidentTransition(record: IncidentRecord): void {
    const last = record.conditions.at(-1);
    if (!last || !isTerminal(last.type)) return;
    const engine = record.app.engine;
    this.outcomes.inc({ engine, outcome: last.type, reason: last.reason });
    const earlierEnd = record.conditions.slice(0, -1).findLast((c) => isTerminal(c.type));
    const after = earlierEnd ? Date.parse(earlierEnd.at) : -Infinity;
    const timings = stageTimings(record);
    for (const [key, condition, stage] of STAGES) {
      const seconds = timings[key];
      const reached = record.conditions.find((c) => c.type === condition);
      if (seconds === undefined || !reached || Date.parse(reached.at) <= after) continue;
      this.stageDuration.observe({ engine, stage }, seconds / 1000);
    }
    if (last.type === 'Converged' && timings.total !== undefined)
      this.timeToConverge.observe({ engine }, timings.total / 1000);
  }

  /** One HTTP request to the forge API (`status` 0: no answer). */
  forgeRequest(request: { method: string; url: string; status: number; seconds: number }): void {
    const method = request.method.toUpperCase();
    const route = routeLabel(request.url);
    this.forgeRequests.inc({ method, route, status: request.status === 0 ? 'none' : String(request.status) });
    this.forgeDuration.observe({ method, route }, request.seconds);
  }

  /** One git process. */
  gitCommand(call: { command: string; ok: boolean; seconds: number }): void {
    const command = gitCommandLabel(call.command);
    this.gitCommands.inc({ command, result: call.ok ? 'ok' : 'error' });
    this.gitDuration.observe({ command }, call.seconds);
  }
}
