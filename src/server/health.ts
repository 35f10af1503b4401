// Liveness, readiness and Prometheus metrics on one small HTTP server (the Dockerfile HEALTHCHECK
// and the Kubernetes probes in deploy/ point here).
import type http from 'node:http';
import type { ServerRuntime } from './runtime-port.ts';

function metrics(runtime: ServerRuntime, counts: Record<string, number>): string {
  const lines: string[] = [
    '# HELP rewind_incidents Incidents by current condition (last 500).',
    '# TYPE rewind_incidents gauge',
  ];
  for (const [condition, n] of Object.entries(counts))
    lines.push(`rewind_incidents{condition="${condition}"} ${n}`);
  const detector = runtime.detector;
  if (detector) {
    lines.push('# HELP rewind_detector_enqueued_total Rollback jobs enqueued by the detector.');
    lines.push('# TYPE rewind_detector_enqueued_total counter');
    lines.push(`rewind_detector_enqueued_total ${detector.stats.enqueued}`);
    lines.push(
      '# HELP rewind_informer_seconds_since_event Seconds since an informer last heard from the API server.',
    );
    lines.push('# TYPE rewind_informer_seconds_since_event gauge');
    for (const [kind, stats] of Object.entries(detector.informerStats())) {
      stats.forEach((s, i) => {
        const age = s.lastEventAt ? (Date.now() - s.lastEventAt) / 1000 : -1;
        lines.push(`rewind_informer_seconds_since_event{kind="${kind}",index="${i}"} ${age.toFixed(1)}`);
        lines.push(`rewind_informer_relists_total{kind="${kind}",index="${i}"} ${s.lists}`);
      });
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Serves /healthz, /readyz and /metrics; anything else is 404. */
export async function handleHealth(
  runtime: ServerRuntime,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  try {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = await runtime.incidents.list(1).then(
        () => true,
        () => false,
      );
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ok ? 'ready\n' : 'redis unreachable\n');
    } else if (path === '/metrics') {
      const counts: Record<string, number> = {};
      for (const record of await runtime.incidents.list(500)) {
        const condition = record.conditions.at(-1)?.type ?? 'Unknown';
        counts[condition] = (counts[condition] ?? 0) + 1;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics(runtime, counts));
    } else {
      res.writeHead(404).end();
    }
  } catch {
    if (!res.headersSent) res.writeHead(500).end();
  }
}
