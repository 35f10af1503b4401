// The Engine port: everything Rewind needs to know about one kind of
// GitOps application object, so the pipeline, detector, verifier, manual rollback, status and
// history never name an engine. Implementations: flux-kustomization.ts, argo-application.ts.
//
// An engine is a stateless description plus a few verbs over the generic cluster verbs below; all
// durable state Rewind keeps about an app (incident, ledger, last healthy revision) lives in
// annotations on the app object itself, which every engine has.
import type { KubeObjectJson } from '../cluster/informer.ts';
import type { AppRef, EngineKind } from '../domain/app-ref.ts';
import type { Revision } from '../domain/revision.ts';
import type { Verdict } from './types.ts';

export interface EngineKindRef {
  readonly apiVersion: string;
  readonly kind: string;
}

export interface EngineObjectRef extends EngineKindRef {
  readonly namespace: string;
  readonly name: string;
}

/** The cluster verbs an engine's own operations need (implemented by src/cluster/kube.ts). */
export interface EngineCluster {
  get(ref: EngineObjectRef): Promise<KubeObjectJson | undefined>;
  list(kind: EngineKindRef, namespace?: string, labelSelector?: string): Promise<KubeObjectJson[]>;
  /** JSON merge patch (`null` removes a key). */
  mergePatch(ref: EngineObjectRef, patch: Record<string, unknown>): Promise<KubeObjectJson>;
  annotate(ref: EngineObjectRef, annotations: Record<string, string | null>): Promise<KubeObjectJson>;
}

/** Where an app's desired state comes from. */
export type AppSource =
  | {
      readonly kind: 'git';
      /** As the engine names it (not yet validated: the pipeline's trust check does that). */
      readonly url: string;
      /** The branch the engine follows: a revert commit on it is what the engine deploys next. */
      readonly branch: string;
      /**
       * The engine follows the remote's default branch (Argo CD `targetRevision: HEAD`): `branch` is
       * `HEAD` until the pipeline asks the remote which branch that is (resolveSourceBranch).
       */
      readonly followsDefaultBranch?: boolean;
      /** The app's directory in the repository, normalised ('' for the root). */
      readonly path: string;
      /** Apps with the same key share one source (one revert can serve them all). */
      readonly key: string;
    }
  | { readonly kind: 'unsupported'; readonly reason: string; readonly message: string };

/**
 * What Rewind did to stop the engine from re-applying the bad revision while it acts (Flux: suspend;
 * Argo: automated sync off), recorded durably so it can be undone exactly, even after a restart.
 */
export type Hold = Readonly<Record<string, unknown>>;

export interface ApplyRequest {
  readonly app: AppRef;
  /** The commit that must be applied (the revert, or a merge containing it). */
  readonly revision: string;
  /** Unique per request: engines that compare annotation values (Flux) need a new value each time. */
  readonly token: string;
  /** When set, the hold is released once the engine's source has the revision, then applied. */
  readonly release?: Hold;
  /** How long to wait for the source to fetch the revision before releasing anyway. */
  readonly fetchTimeoutMs: number;
}

export interface Engine {
  readonly id: EngineKind;
  /** The app object's kind, for reading, watching and annotating it. */
  readonly kind: EngineKindRef & { readonly plural: string; readonly group: string };
  /** The word people use for it (`Kustomization`, `Application`). */
  readonly noun: string;
  /** The kubectl command that lists them, for error messages. */
  readonly listCommand: string;

  ref(app: AppRef): EngineObjectRef;
  /** The pure health verdict (no I/O). */
  assess(object: KubeObjectJson): Verdict;
  /** The revision the engine is applying or last tried (the bad one while it fails). */
  attemptedRevision(object: KubeObjectJson): Revision | undefined;
  /** The revision the engine reports as applied (synced) now. */
  appliedRevision(object: KubeObjectJson): Revision | undefined;
  /**
   * Whether `appliedRevision` is only written after the workloads were healthy (Flux with health
   * checks); when not, only Rewind's own record of a healthy revision can be trusted as good.
   */
  appliedMeansHealthy(object: KubeObjectJson): boolean;
  /**
   * Whether the engine reports that its attempt at `revision` failed before applying it (a build or
   * render error, a sync refused before any object was written): the workloads never saw it.
   */
  failedBeforeApply(object: KubeObjectJson, revision: string): boolean;

  /** Label selector of the Deployments this app manages (any namespace). */
  workloadSelector(app: AppRef): string;
  /** Which app of this engine a Deployment belongs to, from the labels the engine puts on it. */
  appOfWorkload(deployment: KubeObjectJson): { namespace: string; name: string } | undefined;

  /**
   * Which source the app follows and its directory there, from the object alone (no I/O): apps
   * with the same key share one source, so one revert can serve them all.
   */
  sourceRefOf(object: KubeObjectJson): { readonly key: string; readonly path: string } | undefined;
  /** The app's Git source (reads the source object when the engine keeps it separately). */
  source(cluster: EngineCluster, object: KubeObjectJson): Promise<AppSource>;
  /** Whether the engine's source already has `revision` (so applying now applies it). */
  sourceHas(cluster: EngineCluster, object: KubeObjectJson, revision: string): Promise<boolean>;
  /** "Apply the branch head now": fetch, release the hold if asked (after the fetch), apply. */
  applyNow(cluster: EngineCluster, request: ApplyRequest): Promise<{ fetched: boolean }>;
  /**
   * What holding the app will change, read from the object before the hold (recorded durably
   * first, so a retry after a crash restores the original, not the held state).
   */
  planHold(object: KubeObjectJson): Hold;
  /**
   * Why holding this app would not last (e.g. an Argo CD ApplicationSet writes the Application
   * back to its template), so Rewind does not hold it, nor roll its Deployments back natively.
   */
  holdRefusal?(cluster: EngineCluster, object: KubeObjectJson): Promise<string | undefined>;
  /**
   * Rewind's record of a healthy revision (`raw`, as the engine reported it) for the source the
   * app's current revision is tracked on; without it, the record is parsed as one revision.
   */
  recordedRevision?(object: KubeObjectJson, raw: string): Revision | undefined;
  /** Stops the engine from re-applying the bad revision (Flux suspend, Argo automated sync off). Idempotent. */
  hold(cluster: EngineCluster, app: AppRef): Promise<void>;
  /** Puts back exactly what `planHold` recorded. Idempotent. */
  release(cluster: EngineCluster, app: AppRef, hold: Hold): Promise<void>;
  /** How a person undoes the hold by hand (said when an incident ends while Rewind holds the app). */
  releaseHint(app: AppRef): string;
}

/** Polls `check` every 100 ms until true or `timeoutMs` passed. */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
