// Leader election through a coordination.k8s.io/v1 Lease, with the semantics of client-go's
// tools/leaderelection (leaderelection.go, resourcelock/leaselock.go), so that several Rewind
// processes run one detector at a time and hand it over quickly:
// - a candidate takes the lease when it has no holder, or when the record has not changed for a
//   full leaseDurationSeconds *as observed on its own clock* (the timestamps in the record are never
//   compared with the local clock, so skew between nodes does not matter, only skew rate);
// - every write is an update carrying the resourceVersion last read: of two candidates racing for
//   an expired lease, the API server accepts one and answers 409 Conflict to the other;
// - the leader renews every retryPeriod; one that has not renewed for renewDeadline stops leading
//   (its detector is stopped) while the lease it wrote is still valid for the others
//   (renewDeadline < leaseDuration), so two detectors never run at once;
// - on a graceful stop the leader releases the lease (empty holder, leaseDurationSeconds 1, as
//   client-go's release() with ReleaseOnCancel): the next candidate takes it at its next retry.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type KubeConfig, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { TransientError, redact } from '../domain/errors.ts';
import type { Logger } from '../pipeline/ports.ts';
import { statusCode } from './kube.ts';

/** The leader-election fields of a Lease's spec (client-go's LeaderElectionRecord). */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions: number;
}

/** Where the record lives. Update carries the resourceVersion of the last get/create/update. */
export interface LeaseLock {
  /** The record, or undefined when the Lease does not exist. */
  get(): Promise<LeaseRecord | undefined>;
  create(record: LeaseRecord): Promise<void>;
  /** Fails with status 409 when the Lease changed since it was last read or written here. */
  update(record: LeaseRecord): Promise<void>;
  describe(): string;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits (the API server rejects other widths). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** A Lease object through @kubernetes/client-node (plain JSON, so MicroTime strings go out as written). */
export class KubeLeaseLock implements LeaseLock {
  private readonly objects: KubernetesObjectApi;
  private resourceVersion: string | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  }

  describe(): string {
    return `${this.namespace}/${this.name}`;
  }

  async get(): Promise<LeaseRecord | undefined> {
    try {
      const lease = await this.objects.read(this.object());
      this.resourceVersion = lease.metadata?.resourceVersion;
      return recordOf((lease as { spec?: Record<string, unknown> }).spec ?? {});
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async create(record: LeaseRecord): Promise<void> {
    const lease = await this.objects.create({ ...this.object(), spec: specOf(record) } as KubernetesObject);
    this.resourceVersion = lease.metadata?.resourceVersion;
  }

  async update(record: LeaseRecord): Promise<void> {
    if (this.resourceVersion === undefined) throw new Error('lease not read yet');
    const base = this.object();
    const lease = await this.objects.replace({
      ...base,
      metadata: { ...base.metadata, resourceVersion: this.resourceVersion },
      spec: specOf(record),
    } as KubernetesObject);
    this.resourceVersion = lease.metadata?.resourceVersion;
  }

  private object() {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace },
    };
  }
}

function specOf(record: LeaseRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
    ...(record.acquireTime ? { acquireTime: record.acquireTime } : {}),
    ...(record.renewTime ? { renewTime: record.renewTime } : {}),
  };
}

/** A Lease spec as read back; client-node may hand MicroTime fields over as Dates. */
function recordOf(spec: Record<string, unknown>): LeaseRecord {
  const time = (value: unknown): string | undefined =>
    value instanceof Date ? microTime(value.getTime()) : typeof value === 'string' ? value : undefined;
  const acquireTime = time(spec['acquireTime']);
  const renewTime = time(spec['renewTime']);
  return {
    holderIdentity: typeof spec['holderIdentity'] === 'string' ? spec['holderIdentity'] : '',
    leaseDurationSeconds: Number(spec['leaseDurationSeconds'] ?? 0),
    leaseTransitions: Number(spec['leaseTransitions'] ?? 0),
    ...(acquireTime ? { acquireTime } : {}),
    ...(renewTime ? { renewTime } : {}),
  };
}

export interface LeaderElectionOptions {
  readonly lock: LeaseLock;
  /** This candidate's name in `holderIdentity` (unique per process: pod name, or host and pid). */
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** Starts what only the leader runs; a rejection stops leading (the lease is released). */
  readonly onStartedLeading: () => Promise<void>;
  /** Stops it: called before the lease could expire for the others, and before release. */
  readonly onStoppedLeading: () => void;
  readonly onNewLeader?: (identity: string) => void;
  readonly log: Logger;
}

/** client-go's JitterFactor: candidates retry after retryPeriod times 1 to 1.2. */
const JITTER_FACTOR = 1.2;

/**
 * The default identity: the pod's name in Kubernetes (the Downward API's POD_NAME: a restarted
 * container of the same pod takes its lease back at once), else host, pid and a random suffix (unique
 * per runtime, as client-go's examples add a UUID: tests run several runtimes in one process).
 */
export function defaultIdentity(env: Readonly<Record<string, string | undefined>>): string {
  return env['POD_NAME'] || `${hostname()}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export class LeaderElector {
  private observed: LeaseRecord | undefined;
  private observedRaw = '';
  /** Local time the observed record last changed (or was written by us). */
  private observedAt = 0;
  private reportedLeader = '';
  private leading = false;
  /** Local time of our last successful renewal (while leading). */
  private renewedAt = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();

  /** The durations are client-go's, checked as NewLeaderElector does by the config (load.ts). */
  constructor(private readonly options: LeaderElectionOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the Lease ('' for none). */
  get leader(): string {
    return this.observed?.holderIdentity ?? '';
  }

  /**
   * Campaigns: the first attempt runs now, so a Lease Rewind may not write (403) or whose namespace
   * does not exist fails the start with an actionable message; afterwards errors are logged and
   * retried. When this process becomes leader at once, its leader work has started on return.
   */
  async start(): Promise<void> {
    this.running = true;
    try {
      await this.attempt({ first: true });
    } catch (error) {
      this.running = false;
      throw error;
    }
    this.schedule();
  }

  /** Stops campaigning; a leader stops its work first, then releases the lease for a fast failover. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.round;
    this.stepDown('shutting down');
    if (this.observed?.holderIdentity === this.options.identity) await this.release();
  }

  private schedule(): void {
    if (!this.running) return;
    const { retryPeriodMs } = this.options;
    // A leader renews every retryPeriod; candidates jitter theirs so they do not race in lockstep.
    const delay = this.leading ? retryPeriodMs : retryPeriodMs * (1 + Math.random() * (JITTER_FACTOR - 1));
    this.timer = setTimeout(() => {
      this.round = this.attempt({ first: false })
        .catch((error: unknown) =>
          this.options.log.error({ err: redact(String(error)) }, 'leader election: round failed'),
        )
        .finally(() => this.schedule());
    }, delay);
  }

  private async attempt({ first }: { first: boolean }): Promise<void> {
    let acquired: boolean;
    // The renewal counts from when it was sent, not when its answer came back: the others date it
    // from when they read it, which may be before a slow answer reaches us.
    const sentAt = Date.now();
    try {
      acquired = await this.withTimeout(this.tryAcquireOrRenew());
    } catch (error) {
      if (first) throw startError(error, this.options.lock.describe());
      this.options.log.warn(
        { lease: this.options.lock.describe(), err: redact(String(error)) },
        'leader election: lease not written',
      );
      acquired = false;
    }
    this.reportTransition();
    if (!this.running) return;
    // Someone else holds it now (we were cut off long enough for it to expire): stop at once.
    if (!acquired && this.leader !== this.options.identity) this.stepDown('another process holds the lease');
    if (acquired) {
      this.renewedAt = sentAt;
      this.armDeadline();
      if (!this.leading) await this.becomeLeader(first);
    }
  }

  /** An API call that hangs must not keep a leader leading past its renew deadline. */
  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TransientError('the Lease request timed out')),
        this.options.renewDeadlineMs,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private async becomeLeader(first: boolean): Promise<void> {
    this.leading = true;
    this.options.log.info(
      { lease: this.options.lock.describe(), identity: this.options.identity },
      'leader election: became leader',
    );
    try {
      await this.options.onStartedLeading();
    } catch (error) {
      this.stepDown('leader work failed to start');
      await this.release();
      if (first) throw error;
      this.options.log.error({ err: redact(String(error)) }, 'leader election: leader work failed to start');
    }
  }

  /**
   * client-go measures renewDeadline per renew round; here it runs from the last successful renewal
   * and is enforced by a timer, so a stuck request or a blocked round cannot stretch it: the leader
   * stops at most renewDeadline after its last write, which the others treat as valid for
   * leaseDuration from when they saw it.
   */
  private armDeadline(): void {
    clearTimeout(this.deadline);
    this.deadline = setTimeout(
      () => {
        if (this.leading && Date.now() - this.renewedAt >= this.options.renewDeadlineMs)
          this.stepDown(`could not renew the lease within ${this.options.renewDeadlineMs} ms`);
      },
      Math.max(0, this.renewedAt + this.options.renewDeadlineMs - Date.now()),
    );
    this.deadline.unref();
  }

  private stepDown(why: string): void {
    clearTimeout(this.deadline);
    if (!this.leading) return;
    this.leading = false;
    this.options.log.warn({ lease: this.options.lock.describe(), why }, 'leader election: stopped leading');
    this.options.onStoppedLeading();
  }

  private isLeaseValid(now: number): boolean {
    return this.observedAt + (this.observed?.leaseDurationSeconds ?? 0) * 1000 > now;
  }

  private observe(record: LeaseRecord): void {
    this.observed = record;
    this.observedRaw = JSON.stringify(specOf(record));
    this.observedAt = Date.now();
  }

  /** client-go's tryAcquireOrRenew: true when this process holds the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { lock, identity } = this.options;
    const now = Date.now();
    const desired = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    // 1. Fast path: the leader renews assuming the record it wrote last is still current.
    if (this.observed?.holderIdentity === identity && this.isLeaseValid(now)) {
      const renewal = {
        ...desired,
        leaseTransitions: this.observed.leaseTransitions,
        ...(this.observed.acquireTime ? { acquireTime: this.observed.acquireTime } : {}),
      };
      try {
        await lock.update(renewal);
        this.observe(renewal);
        return true;
      } catch (error) {
        if (statusCode(error) !== 409) throw error;
      }
    }
    // 2. Read (or create) the record.
    const current = await lock.get();
    if (!current) {
      try {
        await lock.create(desired);
      } catch (error) {
        if (statusCode(error) === 409) return false; // another candidate created it first
        throw error;
      }
      this.observe(desired);
      return true;
    }
    // 3. Someone else holds a lease that has not expired on our clock: wait.
    if (JSON.stringify(specOf(current)) !== this.observedRaw) this.observe(current);
    const mine = current.holderIdentity === identity;
    if (current.holderIdentity !== '' && this.isLeaseValid(now) && !mine) return false;
    // 4. Take or renew it; a 409 means another candidate won the race.
    const next = mine
      ? {
          ...desired,
          leaseTransitions: current.leaseTransitions,
          ...(current.acquireTime ? { acquireTime: current.acquireTime } : {}),
        }
      : { ...desired, leaseTransitions: current.leaseTransitions + 1 };
    try {
      await lock.update(next);
    } catch (error) {
      if (statusCode(error) === 409) return false;
      throw error;
    }
    this.observe(next);
    return true;
  }

  /** client-go's release(): no holder and a one-second lease, so the next candidate need not wait. */
  private async release(): Promise<void> {
    const now = microTime(Date.now());
    const released: LeaseRecord = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      leaseTransitions: this.observed?.leaseTransitions ?? 0,
      acquireTime: now,
      renewTime: now,
    };
    try {
      await this.withTimeout(this.options.lock.update(released));
      this.observe(released);
      this.options.log.info({ lease: this.options.lock.describe() }, 'leader election: released the lease');
    } catch (error) {
      // Someone else wrote it since (or the API is gone): it expires on its own.
      this.options.log.warn(
        { lease: this.options.lock.describe(), err: redact(String(error)) },
        'leader election: could not release the lease',
      );
    }
  }

  private reportTransition(): void {
    const holder = this.observed?.holderIdentity ?? '';
    if (holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    this.options.onNewLeader?.(holder);
  }
}

/** The first attempt's failure, in words a person can act on (403: RBAC; 404: no such namespace). */
function startError(error: unknown, lease: string): Error {
  const code = statusCode(error);
  const namespace = lease.split('/')[0];
  const hint =
    code === 403
      ? `Rewind may not get/create/update Leases there: apply the Role in deploy/rbac.yaml (leases in ${namespace}).`
      : code === 404
        ? `the namespace ${namespace} does not exist: create it (kubectl create namespace ${namespace}) or set leaderElection.namespace.`
        : 'check that the API server answers.';
  return new TransientError(
    `Leader election on Lease ${lease} failed: ${redact((error as Error).message ?? String(error))}. ${hint} ` +
      'A single replica may run without it: leaderElection.enabled: false.',
    { cause: error },
  );
}
