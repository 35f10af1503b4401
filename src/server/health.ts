// Liveness, readiness and Prometheus metrics on Rewind's HTTP server (the Kubernetes probes in
// deploy/ point here). Liveness asks only whether this process is stuck: an informer that has not
// known its cache current for longer than a bound well past its own stall timeout is wedged (a
// restart is what fixes it); the API server being down for a while is not, by itself, a reason
// to restart. Readiness asks whether the process can work now: Redis answers a PING and the API
// server says it is ready. Every check is bounded in time and its answer shared for a moment, so a
// probe never hangs and a burst of probes costs one check. The body says what is wrong.
import type http from 'node:http';
import { redact } from '../domain/errors.ts';
import type { InformerHealth, ServerRuntime } from './runtime-port.ts';

export interface HealthOptions {
  /** Longest a readiness check may take (default 2 s; the deploy/ probes time out after 3 s). */
  readonly checkTimeoutMs?: number;
  /** How long a check's answer is reused (default 1 s). */
  readonly cacheMs?: number;
}

type Check = () => Promise<string | undefined>;

/** Runs `run` at most once per `cacheMs`, giving up (and aborting it) after `timeoutMs`; resolves to the problem, if any. */
function cachedCheck(run: (signal: AbortSignal) => Promise<void>, timeoutMs: number, cacheMs: number): Check {
  let last: { at: number; problem: string | undefined } | undefined;
  let running: Promise<string | undefined> | undefined;
  const once = async (): Promise<string | undefined> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    // Settles on the timeout even when `run` does not honour its signal.
    const timedOut = new Promise<never>((_, reject) =>
      controller.signal.addEventListener('abort', () => reject(new Error('aborted'))),
    );
    try {
      await Promise.race([run(controller.signal), timedOut]);
      return undefined;
    } catch (error) {
      if (controller.signal.aborted) return `no answer within ${timeoutMs} ms`;
      return redact(error instanceof Error ? error.message : String(error))
        .split('\n')[0]
        ?.slice(0, 300);
    } finally {
      clearTimeout(timer);
    }
  };
  return () => {
    if (last && Date.now() - last.at < cacheMs) return Promise.resolve(last.problem);
    running ??= once().then((problem) => {
      last = { at: Date.now(), problem };
      running = undefined;
      return problem;
    });
    return running;
  };
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

/** Informers that have not synced for longer than the bound, as lines for the probe body. */
export function wedgedInformers(
  informers: readonly InformerHealth[],
  wedgedAfterMs: number,
  now: number,
): string[] {
  return informers
    .filter((i) => now - i.lastSyncAt > wedgedAfterMs)
    .map((i) => {
      const where = i.namespace ? ` in ${i.namespace}` : '';
      const since = i.lastSyncAt ? `for ${seconds(now - i.lastSyncAt)}` : 'since it started';
      const api = i.connected ? '' : ', its last request did not reach the API server';
      return `informer ${i.resource}${where} has not synced ${since} (bound ${seconds(wedgedAfterMs)}${api})`;
    });
}

/** A handler for /healthz, /readyz and /metrics (anything else is 404), with its own check cache. */
export function healthHandler(
  runtime: ServerRuntime,
  options: HealthOptions = {},
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  const cacheMs = options.cacheMs ?? 1000;
  const redis = cachedCheck((signal) => runtime.probes.pingRedis(signal), timeoutMs, cacheMs);
  const apiServer = cachedCheck((signal) => runtime.probes.pingApiServer(signal), timeoutMs, cacheMs);

  const answer = (res: http.ServerResponse, problems: readonly string[], ok: string): void => {
    res
      .writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
      .end(problems.length === 0 ? `${ok}\n` : `${problems.join('\n')}\n`);
  };

  return async (req, res) => {
    try {
      const path = (req.url ?? '/').split('?')[0];
      // HEAD answers as GET does, without a body (Node leaves the body out of a HEAD response).
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/healthz') {
        const informers = runtime.detector?.informerStats() ?? [];
        answer(res, wedgedInformers(informers, runtime.probes.wedgedAfterMs, Date.now()), 'ok');
      } else if (path === '/readyz') {
        const [redisProblem, apiProblem] = await Promise.all([redis(), apiServer()]);
        const problems = [
          ...(redisProblem ? [`redis unreachable: ${redisProblem}`] : []),
          ...(apiProblem ? [`kubernetes API server unreachable: ${apiProblem}`] : []),
        ];
        answer(res, problems, 'ready');
      } else if (path === '/metrics') {
        const registry = runtime.metrics.registry;
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(body);
      } else {
        res.writeHead(404).end();
      }
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  };
}
