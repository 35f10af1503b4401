import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../domain/errors.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { type AppRef, parseAppRef } from '../domain/app-ref.ts';
import {
  type AlertsConfig,
  type ChatOpsConfig,
  configSchema,
  type ForgeConfig,
  type NotificationsConfig,
  type RawAppConfig,
  type RawConfig,
} from './schema.ts';

// Config is parsed in passes, like changesets' parse.ts: (0) YAML, (1) environment overrides +
// schema, (2) normalise durations to ms, (3) cross-field rules. Each pass collects every problem;
// a pass runs only when the previous one found none, so messages never cascade.

export interface Budgets {
  readonly perHour: number;
  readonly perDay: number;
  readonly cooldownMs: number;
}

export interface Policy {
  readonly mode: 'auto-merge' | 'propose' | 'observe';
  readonly gracePeriodMs: number;
  readonly dryRun: boolean;
  readonly paused: boolean;
  readonly budgets: Budgets;
  readonly maxCulpritAgeMs: number;
  readonly suspendWhilePending: boolean;
  /** Roll Deployments back natively (Kustomization suspended) while Git catches up. */
  readonly fastPath: boolean;
  readonly verifyTimeoutMs: number;
  readonly reviewTimeoutMs: number;
}

export type PolicyOverride = Partial<Omit<Policy, 'budgets'>> & { readonly budgets?: Partial<Budgets> };

export interface AppConfig {
  readonly name: string;
  readonly namespace?: string;
  readonly engine?: AppRef['engine'];
  readonly policy: PolicyOverride;
}

export interface RewindConfig {
  readonly redis: {
    readonly url: string;
    readonly prefix: string;
    /** How long an ended incident's record is kept in Redis. */
    readonly incidentRetentionMs: number;
  };
  readonly kubernetes: { readonly kubeconfig?: string; readonly namespaces: readonly string[] };
  readonly git: {
    readonly workdir: string;
    readonly author: { readonly name: string; readonly email: string };
    readonly credentials?: { readonly username?: string; readonly tokenEnv?: string };
    readonly allowFileRemotes: boolean;
    readonly allowedHosts: readonly string[];
  };
  readonly detection: { readonly restartThreshold: number; readonly wedgedAfterMs?: number };
  readonly leaderElection: {
    readonly enabled: boolean;
    readonly namespace: string;
    readonly name: string;
    readonly leaseDurationMs: number;
    readonly renewDeadlineMs: number;
    readonly retryPeriodMs: number;
    readonly identity?: string;
  };
  /** BullMQ worker settings (the rollback and verify workers). */
  readonly worker: { readonly lockDurationMs: number; readonly concurrency: number };
  readonly forge: ForgeConfig;
  readonly policy: Policy;
  readonly apps: readonly AppConfig[];
  readonly chatops: ChatOpsConfig;
  readonly notifications: NotificationsConfig;
  readonly dashboard: { readonly enabled: boolean; readonly tokenEnv?: string };
  readonly alerts: AlertsConfig;
  /** The HTTP listener: where it binds, its client deadlines and its connection cap. */
  readonly server: {
    readonly host: string;
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxConnections: number;
    readonly probeReserve: number;
  };
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadConfigOptions {
  /** Path to rewind.yaml; without it only defaults and the environment apply. */
  readonly file?: string;
  readonly env: Env;
  /** Receives non-fatal findings, e.g. a REWIND_* variable that matches no key. */
  readonly onWarning?: (message: string) => void;
}

export async function loadConfig(options: LoadConfigOptions): Promise<RewindConfig> {
  let raw: unknown = {};
  if (options.file !== undefined) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (cause) {
      throw new ConfigError(
        [
          {
            path: '(file)',
            message: `cannot read ${options.file}: ${(cause as Error).message}. Check --config.`,
          },
        ],
        { cause, source: options.file },
      );
    }
    raw = parseYaml(text, options.file);
  }
  return parseConfig(raw, {
    env: options.env,
    ...(options.file === undefined ? {} : { source: options.file }),
    ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
  });
}

/** Pass 0: YAML text to a plain value, with the line of the first syntax error. */
export function parseYaml(text: string, source = 'rewind.yaml'): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  // Only the first syntax error: the following ones are usually consequences of it.
  const first = doc.errors[0];
  if (first !== undefined) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    const message = first.message.split('\n')[0] ?? first.message;
    throw new ConfigError(
      [{ path: '(yaml)', message: `malformed YAML at line ${line}, column ${col}: ${message}` }],
      {
        source,
      },
    );
  }
  return doc.toJS() ?? {};
}

export interface ParseConfigOptions {
  readonly env: Env;
  readonly source?: string;
  readonly onWarning?: (message: string) => void;
}

export function parseConfig(raw: unknown, options: ParseConfigOptions): RewindConfig {
  const fail = (problems: ConfigProblem[]): never => {
    throw new ConfigError(problems, options.source === undefined ? {} : { source: options.source });
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail([
      { path: '(root)', message: 'the file must be a YAML mapping (key: value), not a list or a scalar.' },
    ]);
  }

  // Pass 1: environment overrides, then the schema.
  const {
    value: withEnv,
    fromEnv,
    problems: envProblems,
  } = applyEnvOverrides(raw as Record<string, unknown>, options.env, options.onWarning);
  const parsed = configSchema.safeParse(withEnv, { reportInput: true });
  const schemaProblems = parsed.success ? [] : parsed.error.issues.flatMap((i) => describeIssue(i, fromEnv));
  if (envProblems.length > 0 || !parsed.success) fail([...envProblems, ...schemaProblems]);
  const rawConfig = (parsed as { data: RawConfig }).data;

  // Pass 2: normalise.
  const problems: ConfigProblem[] = [];
  const config = normalise(rawConfig, problems, fromEnv);
  if (problems.length > 0) fail(problems);

  // Pass 3: cross-field rules.
  crossFieldRules(config, options.env, problems);
  if (problems.length > 0) fail(problems);
  return config;
}

/** The policy that applies to one app: the global policy with the most specific matching `apps[]` entry on top. */
export function effectivePolicy(config: RewindConfig, app: AppRef): Policy {
  const matches = config.apps
    .filter(
      (a) =>
        a.name === app.name &&
        (a.namespace === undefined || a.namespace === app.namespace) &&
        (a.engine === undefined || a.engine === app.engine),
    )
    .sort((a, b) => specificity(a) - specificity(b));
  let policy = config.policy;
  for (const entry of matches) {
    const o = entry.policy;
    policy = {
      ...policy,
      ...withoutUndefined({ ...o, budgets: undefined }),
      budgets: { ...policy.budgets, ...withoutUndefined(o.budgets ?? {}) },
      // A global pause cannot be lifted per app.
      paused: config.policy.paused || (o.paused ?? policy.paused),
    };
  }
  return policy;
}

export function findAppConfig(config: RewindConfig, app: AppRef): AppConfig | undefined {
  return config.apps.find(
    (a) =>
      a.name === app.name &&
      (a.namespace === undefined || a.namespace === app.namespace) &&
      (a.engine === undefined || a.engine === app.engine),
  );
}

function specificity(a: AppConfig): number {
  return (a.namespace === undefined ? 0 : 1) + (a.engine === undefined ? 0 : 1);
}

type Defined<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

function withoutUndefined<T extends object>(o: T): Defined<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Defined<T>;
}

// ---------------------------------------------------------------------------------------------
// Environment overrides: REWIND_<PATH>, path segments upper-cased and joined by '_'
// (policy.gracePeriod -> REWIND_POLICY_GRACEPERIOD). Only scalar leaves and string lists.

type LeafKind = 'string' | 'number' | 'boolean' | 'string-list';

export interface EnvLeaf {
  readonly path: readonly string[];
  readonly kind: LeafKind;
}

const ENV_PREFIX = 'REWIND_';
// Variables read elsewhere (CLI, logging, secrets named by *Env keys) that are not config keys.
const ENV_NOT_CONFIG = new Set(['REWIND_CONFIG', 'REWIND_LOG_LEVEL']);

/** The environment variables that override a key, by variable name (REWIND_POLICY_GRACEPERIOD). */
export function envOverrides(): Map<string, EnvLeaf> {
  return new Map(
    envLeaves(configSchema, []).map((leaf) => [
      ENV_PREFIX + leaf.path.map((p) => p.toUpperCase()).join('_'),
      leaf,
    ]),
  );
}

function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: Env,
  onWarning?: (message: string) => void,
): { value: Record<string, unknown>; fromEnv: Map<string, string>; problems: ConfigProblem[] } {
  const leaves = envOverrides();
  const value = structuredClone(raw);
  const fromEnv = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  const secretNames = collectSecretEnvNames(raw);
  // REDIS_URL (what the demo, the tests and most Redis tooling read) is the default for redis.url;
  // the file's redis.url and REWIND_REDIS_URL (applied below) win over it.
  const redisUrl = env['REDIS_URL'];
  const redis = value['redis'];
  const redisMapping = redis == null || (typeof redis === 'object' && !Array.isArray(redis));
  if (redisUrl && redisMapping && !hasKey(redis, 'url')) {
    setPath(value, ['redis', 'url'], redisUrl);
    fromEnv.set('redis.url', 'REDIS_URL');
  }
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || text === undefined) continue;
    const leaf = leaves.get(name);
    if (leaf === undefined) {
      if (!ENV_NOT_CONFIG.has(name) && !secretNames.has(name)) {
        const guess = didYouMean(name, [...leaves.keys()]);
        onWarning?.(
          `${name} matches no configuration key and is ignored${guess ? `; did you mean ${guess}?` : '.'}`,
        );
      }
      continue;
    }
    const dotted = leaf.path.join('.');
    const coerced = coerceEnv(text, leaf.kind);
    if (coerced === undefined) {
      problems.push({
        path: dotted,
        message: `${name}="${text.slice(0, 40)}" is not a ${leaf.kind}; ${kindHint(leaf.kind)}`,
      });
      continue;
    }
    setPath(value, leaf.path, coerced);
    fromEnv.set(dotted, name);
  }
  return { value, fromEnv, problems };
}

function collectSecretEnvNames(raw: unknown): Set<string> {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        if (k.endsWith('Env') && typeof inner === 'string') names.add(inner);
        walk(inner);
      }
    }
  };
  walk(raw);
  return names;
}

function kindHint(kind: LeafKind): string {
  switch (kind) {
    case 'boolean':
      return 'use true or false.';
    case 'number':
      return 'use a whole number.';
    case 'string-list':
      return 'use a comma-separated list.';
    case 'string':
      return 'use text.';
  }
}

function coerceEnv(text: string, kind: LeafKind): unknown {
  switch (kind) {
    case 'string':
      return text;
    case 'number': {
      const n = Number(text.trim());
      return text.trim() === '' || !Number.isFinite(n) ? undefined : n;
    }
    case 'boolean': {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      return undefined;
    }
    case 'string-list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
  }
}

function hasKey(node: unknown, key: string): boolean {
  return node !== null && typeof node === 'object' && key in node;
}

function setPath(target: Record<string, unknown>, path: readonly string[], leafValue: unknown): void {
  let node = target;
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      node[key] = leafValue;
      return;
    }
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
}

interface ZodDefLike {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): ZodDefLike {
  return (schema as unknown as { def: ZodDefLike }).def;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (def.innerType === undefined) return current;
    current = def.innerType;
  }
}

/** Object keys known at a path of the schema (for did-you-mean), following arrays and unions. */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let nodes = [unwrap(schema)];
  for (const segment of path) {
    const next: z.ZodType[] = [];
    for (const node of nodes) {
      const def = defOf(node);
      if (def.type === 'array' && def.element !== undefined && typeof segment === 'number')
        next.push(unwrap(def.element));
      if (def.type === 'object' && def.shape !== undefined && typeof segment === 'string') {
        const child = def.shape[segment];
        if (child !== undefined) next.push(unwrap(child));
      }
      if (def.type === 'union' && def.options !== undefined) {
        for (const option of def.options) next.push(...knownNodes(option, segment));
      }
    }
    nodes = next;
  }
  return [...new Set(nodes.flatMap((n) => objectKeys(n)))];
}

function knownNodes(option: z.ZodType, segment: PropertyKey): z.ZodType[] {
  const def = defOf(unwrap(option));
  const child = typeof segment === 'string' ? def.shape?.[segment] : undefined;
  return child === undefined ? [] : [unwrap(child)];
}

function objectKeys(node: z.ZodType): string[] {
  const def = defOf(node);
  if (def.type === 'object' && def.shape !== undefined) return Object.keys(def.shape);
  if (def.type === 'union' && def.options !== undefined)
    return def.options.flatMap((o) => objectKeys(unwrap(o)));
  return [];
}

function envLeaves(schema: z.ZodType, path: string[]): EnvLeaf[] {
  const node = unwrap(schema);
  const def = defOf(node);
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, child]) => envLeaves(child, [...path, key]));
    case 'union': {
      const seen = new Map<string, EnvLeaf>();
      for (const option of def.options ?? []) {
        for (const leaf of envLeaves(option, path)) seen.set(leaf.path.join('.'), leaf);
      }
      return [...seen.values()];
    }
    case 'array':
      // Lists of objects (apps) are file-only; lists of strings come as comma-separated text.
      return def.element !== undefined && defOf(unwrap(def.element)).type === 'string'
        ? [{ path, kind: 'string-list' }]
        : [];
    case 'number':
      return [{ path, kind: 'number' }];
    case 'boolean':
      return [{ path, kind: 'boolean' }];
    default:
      return [{ path, kind: 'string' }];
  }
}

// ---------------------------------------------------------------------------------------------
// Problems, described for people.

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

function describeIssue(issue: z.core.$ZodIssue, fromEnv: Map<string, string>): ConfigProblem[] {
  const path = formatPath(issue.path);
  const envNote = fromEnv.has(path) ? ` (from ${fromEnv.get(path)})` : '';
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(configSchema, issue.path);
      return issue.keys.map((key) => {
        const guess = didYouMean(key, known);
        return {
          path: formatPath([...issue.path, key]),
          message:
            `unknown key${guess ? `; did you mean "${guess}"?` : '.'} ` +
            (known.length > 0 ? `Allowed here: ${known.join(', ')}.` : 'Remove it.'),
        };
      });
    }
    case 'invalid_type':
      return [
        {
          path,
          message:
            issue.input === undefined
              ? `is required (expected ${issue.expected}).`
              : `expected ${issue.expected}, got ${describeValue(issue.input)}${envNote}.`,
        },
      ];
    case 'invalid_value':
      return [
        {
          path,
          message: `must be one of ${issue.values.map((v) => String(v)).join(', ')}${
            issue.input === undefined ? '' : `, got ${describeValue(issue.input)}`
          }${envNote}.`,
        },
      ];
    case 'invalid_union': {
      const options = (issue as { options?: unknown[] }).options;
      if (options !== undefined) {
        const input = (issue.input as Record<string, unknown> | undefined)?.['type'];
        return [
          {
            path,
            message: `must be one of ${options.map(String).join(', ')}${input === undefined ? '' : `, got ${describeValue(input)}`}.`,
          },
        ];
      }
      return [{ path, message: `${issue.message}${envNote}.` }];
    }
    default:
      return [{ path, message: `${issue.message}${envNote}.` }];
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.slice(0, 40)}"`;
  return `${typeof value} ${JSON.stringify(value) ?? typeof value}`;
}

export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = levenshtein(input.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(input.length / 4)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Pass 2: normalise.

function normalise(raw: RawConfig, problems: ConfigProblem[], fromEnv: Map<string, string>): RewindConfig {
  const ms = (text: string, path: string): number => {
    const value = parseDuration(text);
    if (value === undefined) {
      const envNote = fromEnv.has(path) ? ` (from ${fromEnv.get(path)})` : '';
      problems.push({
        path,
        message: `"${text}" is not a duration${envNote}; write it like 30s, 2m, 1h30m or 7d.`,
      });
      return 0;
    }
    return value;
  };
  const p = raw.policy;
  const policy: Policy = {
    mode: p.mode,
    gracePeriodMs: ms(p.gracePeriod, 'policy.gracePeriod'),
    dryRun: p.dryRun,
    paused: p.paused,
    budgets: {
      perHour: p.budgets.perHour,
      perDay: p.budgets.perDay,
      cooldownMs: ms(p.budgets.cooldown, 'policy.budgets.cooldown'),
    },
    maxCulpritAgeMs: ms(p.maxCulpritAge, 'policy.maxCulpritAge'),
    suspendWhilePending: p.suspendWhilePending,
    fastPath: p.fastPath,
    verifyTimeoutMs: ms(p.verifyTimeout, 'policy.verifyTimeout'),
    reviewTimeoutMs: ms(p.reviewTimeout, 'policy.reviewTimeout'),
  };
  const apps = raw.apps.map((a, i) => normaliseApp(a, `apps[${i}]`, ms));
  const git = raw.git;
  const { incidentRetention, ...redis } = raw.redis;
  const { dedupeTtl, ...alerts } = raw.alerts;
  const election = raw.leaderElection;
  return {
    redis: { ...redis, incidentRetentionMs: ms(incidentRetention, 'redis.incidentRetention') },
    kubernetes: {
      namespaces: raw.kubernetes.namespaces,
      ...(raw.kubernetes.kubeconfig === undefined ? {} : { kubeconfig: raw.kubernetes.kubeconfig }),
    },
    git: {
      workdir: git.workdir,
      author: git.author,
      allowFileRemotes: git.allowFileRemotes,
      allowedHosts: git.allowedHosts,
      ...(git.credentials === undefined ? {} : { credentials: withoutUndefined(git.credentials) }),
    },
    forge: raw.forge,
    policy,
    detection: {
      restartThreshold: raw.detection.restartThreshold,
      ...(raw.detection.wedgedAfter === undefined
        ? {}
        : { wedgedAfterMs: ms(raw.detection.wedgedAfter, 'detection.wedgedAfter') }),
    },
    leaderElection: {
      enabled: election.enabled,
      namespace: election.namespace,
      name: election.name,
      leaseDurationMs: ms(election.leaseDuration, 'leaderElection.leaseDuration'),
      renewDeadlineMs: ms(election.renewDeadline, 'leaderElection.renewDeadline'),
      retryPeriodMs: ms(election.retryPeriod, 'leaderElection.retryPeriod'),
      ...(election.identity === undefined ? {} : { identity: election.identity }),
    },
    worker: {
      lockDurationMs: ms(raw.worker.lockDuration, 'worker.lockDuration'),
      concurrency: raw.worker.concurrency,
    },
    apps,
    chatops: raw.chatops,
    notifications: {
      ...(raw.notifications.slack ? { slack: raw.notifications.slack } : {}),
      ...(raw.notifications.webhook ? { webhook: raw.notifications.webhook } : {}),
      timeoutMs: ms(raw.notifications.timeout, 'notifications.timeout'),
    },
    dashboard: {
      enabled: raw.dashboard.enabled,
      ...(raw.dashboard.tokenEnv === undefined ? {} : { tokenEnv: raw.dashboard.tokenEnv }),
    },
    alerts: { ...alerts, dedupeTtlMs: ms(dedupeTtl, 'alerts.dedupeTtl') },
    server: {
      host: raw.server.host,
      headersTimeoutMs: ms(raw.server.headersTimeout, 'server.headersTimeout'),
      requestTimeoutMs: ms(raw.server.requestTimeout, 'server.requestTimeout'),
      keepAliveTimeoutMs: ms(raw.server.keepAliveTimeout, 'server.keepAliveTimeout'),
      maxConnections: raw.server.maxConnections,
      probeReserve: raw.server.probeReserve,
    },
  };
}

function normaliseApp(a: RawAppConfig, path: string, ms: (text: string, path: string) => number): AppConfig {
  const opt = (text: string | undefined, key: string): number | undefined =>
    text === undefined ? undefined : ms(text, `${path}.${key}`);
  const budgets = withoutUndefined({
    perHour: a.budgets?.perHour,
    perDay: a.budgets?.perDay,
    cooldownMs: opt(a.budgets?.cooldown, 'budgets.cooldown'),
  });
  const policy = withoutUndefined({
    mode: a.mode,
    gracePeriodMs: opt(a.gracePeriod, 'gracePeriod'),
    dryRun: a.dryRun,
    paused: a.paused,
    maxCulpritAgeMs: opt(a.maxCulpritAge, 'maxCulpritAge'),
    suspendWhilePending: a.suspendWhilePending,
    fastPath: a.fastPath,
    verifyTimeoutMs: opt(a.verifyTimeout, 'verifyTimeout'),
    reviewTimeoutMs: opt(a.reviewTimeout, 'reviewTimeout'),
  }) as PolicyOverride;
  return {
    name: a.name,
    ...(a.namespace === undefined ? {} : { namespace: a.namespace }),
    ...(a.engine === undefined ? {} : { engine: a.engine }),
    policy: Object.keys(budgets).length > 0 ? { ...policy, budgets } : policy,
  };
}

// ---------------------------------------------------------------------------------------------
// Pass 3: cross-field rules.

function crossFieldRules(config: RewindConfig, env: Env, problems: ConfigProblem[]): void {
  const requireEnv = (name: string | undefined, path: string, what: string): void => {
    if (name !== undefined && (env[name] === undefined || env[name] === '')) {
      problems.push({
        path,
        message: `environment variable ${name} (${what}) is not set; export it before starting Rewind.`,
      });
    }
  };

  if (!/^rediss?:\/\//.test(config.redis.url)) {
    problems.push({
      path: 'redis.url',
      message: `"${config.redis.url}" must start with redis:// or rediss://.`,
    });
  }
  const checkBudgets = (b: Budgets, path: string): void => {
    if (b.perHour > b.perDay) {
      problems.push({
        path: `${path}.perHour`,
        message: `${b.perHour} rollbacks per hour exceeds ${b.perDay} per day; raise perDay or lower perHour.`,
      });
    }
  };
  checkBudgets(config.policy.budgets, 'policy.budgets');
  // BullMQ renews the lock at half its duration; below a second a busy event loop loses it.
  if (config.worker.lockDurationMs < 1000) {
    problems.push({
      path: 'worker.lockDuration',
      message: `${formatDuration(config.worker.lockDurationMs)} is too short for a job lock; use 1s or more (default 30s).`,
    });
  }
  leaderElectionRules(config.leaderElection, problems);
  serverRules(config.server, problems);
  if (config.policy.gracePeriodMs > config.policy.verifyTimeoutMs) {
    problems.push({
      path: 'policy.gracePeriod',
      message: `${formatDuration(config.policy.gracePeriodMs)} is longer than policy.verifyTimeout (${formatDuration(config.policy.verifyTimeoutMs)}); shorten it.`,
    });
  }

  const seen = new Map<string, number>();
  config.apps.forEach((app, i) => {
    const key = `${app.engine ?? '*'}/${app.namespace ?? '*'}/${app.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({
        path: `apps[${i}]`,
        message: `duplicates apps[${first}] (${app.name}); merge the two entries.`,
      });
    } else seen.set(key, i);
    const merged: Budgets = { ...config.policy.budgets, ...withoutUndefined(app.policy.budgets ?? {}) };
    if (app.policy.budgets !== undefined) checkBudgets(merged, `apps[${i}].budgets`);
    if (config.forge.type === 'direct-push' && app.policy.mode === 'propose') {
      problems.push({
        path: `apps[${i}].mode`,
        message:
          'propose needs a forge that opens pull requests; set forge.type: github or use auto-merge/observe.',
      });
    }
  });

  if (config.forge.type === 'direct-push' && config.policy.mode === 'propose') {
    problems.push({
      path: 'policy.mode',
      message:
        'propose needs a forge that opens pull requests; set forge.type: github or use auto-merge/observe.',
    });
  }
  if (config.forge.type === 'github') {
    const forge = config.forge;
    if (forge.tokenEnv === undefined && forge.app === undefined) {
      problems.push({
        path: 'forge',
        message: 'github needs tokenEnv (a token) or app (GitHub App); set one of them.',
      });
    }
    if (forge.tokenEnv !== undefined && forge.app !== undefined) {
      problems.push({ path: 'forge.app', message: 'set either tokenEnv or app, not both.' });
    }
    requireEnv(forge.tokenEnv, 'forge.tokenEnv', 'GitHub token');
    requireEnv(forge.app?.privateKeyEnv, 'forge.app.privateKeyEnv', 'GitHub App private key');
    requireEnv(forge.webhookSecretEnv, 'forge.webhookSecretEnv', 'webhook secret');
  }
  requireEnv(config.git.credentials?.tokenEnv, 'git.credentials.tokenEnv', 'git token');
  requireEnv(config.dashboard.tokenEnv, 'dashboard.tokenEnv', 'dashboard token');
  chatOpsRules(config, requireEnv, problems);
  for (const name of ['alertmanager', 'flux'] as const) {
    const endpoint = config.alerts[name];
    if (endpoint === undefined) continue;
    const path = `alerts.${name}`;
    // An endpoint that opens incidents is never left open: exactly one way to authenticate.
    if ((endpoint.tokenEnv === undefined) === (endpoint.hmacSecretEnv === undefined)) {
      problems.push({
        path,
        message: 'set exactly one of tokenEnv (bearer token) or hmacSecretEnv (X-Signature HMAC).',
      });
    }
    requireEnv(endpoint.tokenEnv, `${path}.tokenEnv`, `${name} webhook bearer token`);
    requireEnv(endpoint.hmacSecretEnv, `${path}.hmacSecretEnv`, `${name} webhook HMAC key`);
  }
}

/** Node refuses a header deadline longer than the request's; a reserve must leave room for others. */
function serverRules(server: RewindConfig['server'], problems: ConfigProblem[]): void {
  for (const key of ['headersTimeout', 'requestTimeout', 'keepAliveTimeout'] as const) {
    if (server[`${key}Ms`] <= 0) {
      problems.push({ path: `server.${key}`, message: 'must be longer than 0.' });
    }
  }
  if (server.headersTimeoutMs > server.requestTimeoutMs) {
    problems.push({
      path: 'server.headersTimeout',
      message: `${formatDuration(server.headersTimeoutMs)} is longer than server.requestTimeout (${formatDuration(server.requestTimeoutMs)}); shorten it.`,
    });
  }
  if (server.probeReserve >= server.maxConnections) {
    problems.push({
      path: 'server.probeReserve',
      message: `${server.probeReserve} leaves no connection of server.maxConnections (${server.maxConnections}) for other requests; lower it.`,
    });
  }
}

/**
 * client-go's NewLeaderElector checks: leaseDuration > renewDeadline > 1.2 x retryPeriod (the leader
 * must give up before the others may take over, after a few jittered retries); the Lease stores
 * whole seconds.
 */
function leaderElectionRules(election: RewindConfig['leaderElection'], problems: ConfigProblem[]): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = election;
  if (leaseDurationMs < 1000 || leaseDurationMs % 1000 !== 0) {
    problems.push({
      path: 'leaderElection.leaseDuration',
      message: `${formatDuration(leaseDurationMs)} is not a whole number of seconds (the Lease stores seconds); use 1s or more, e.g. 15s.`,
    });
  }
  if (leaseDurationMs <= renewDeadlineMs) {
    problems.push({
      path: 'leaderElection.renewDeadline',
      message: `${formatDuration(renewDeadlineMs)} must be shorter than leaderElection.leaseDuration (${formatDuration(leaseDurationMs)}), or two detectors could run at once.`,
    });
  }
  if (retryPeriodMs <= 0 || renewDeadlineMs <= 1.2 * retryPeriodMs) {
    problems.push({
      path: 'leaderElection.retryPeriod',
      message: `${formatDuration(retryPeriodMs)} must be positive and shorter than leaderElection.renewDeadline / 1.2 (${formatDuration(renewDeadlineMs)}).`,
    });
  }
}

function chatOpsRules(
  config: RewindConfig,
  requireEnv: (name: string | undefined, path: string, what: string) => void,
  problems: ConfigProblem[],
): void {
  const slack = config.chatops.slack;
  requireEnv(slack.signingSecretEnv, 'chatops.slack.signingSecretEnv', 'Slack signing secret');
  requireEnv(slack.botTokenEnv, 'chatops.slack.botTokenEnv', 'Slack bot token');
  if (slack.allowedGroups.length > 0 && slack.botTokenEnv === undefined) {
    problems.push({
      path: 'chatops.slack.allowedGroups',
      message: 'user groups are looked up with a bot token; set chatops.slack.botTokenEnv.',
    });
  }
  slack.apps.forEach((entry, i) => {
    try {
      parseAppRef(entry.app);
    } catch (error) {
      problems.push({ path: `chatops.slack.apps[${i}].app`, message: (error as Error).message });
    }
  });
  slack.responseUrlHosts.forEach((host, i) => {
    if (!/^[a-z0-9.-]+(:[0-9]{1,5})?$/i.test(host)) {
      problems.push({
        path: `chatops.slack.responseUrlHosts[${i}]`,
        message: `"${host}" is not a host or host:port (no scheme, no path).`,
      });
    }
  });
  const notify = config.notifications;
  requireEnv(notify.slack?.webhookUrlEnv, 'notifications.slack.webhookUrlEnv', 'Slack webhook URL');
  requireEnv(notify.slack?.botTokenEnv, 'notifications.slack.botTokenEnv', 'Slack bot token');
  requireEnv(notify.webhook?.secretEnv, 'notifications.webhook.secretEnv', 'webhook signing key');
  if (notify.slack?.botTokenEnv !== undefined && notify.slack.channel === undefined) {
    problems.push({
      path: 'notifications.slack.channel',
      message: 'chat.postMessage needs a channel (an id like C0123456789, or #name).',
    });
  }
}
