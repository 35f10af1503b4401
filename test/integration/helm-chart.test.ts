// The Helm chart by Helm's conventions, rendered by real Helm 3.17: values.schema.json refuses a
// mistyped value and a config Rewind would refuse, before anything reaches the cluster; two releases
// in one namespace own disjoint objects and never select each other's Pods.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubeObject } from '../../src/sandbox/store.ts';
import { helm, helmTemplate, manifestObjects as docs } from '../helpers/helm.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHART = path.join(ROOT, 'deploy', 'chart', 'rewind');
const NS = 'team';
/** What Helm needs at most to render or refuse the chart (the binary is fetched once, cached). */
const HELM_MS = 300_000;

/** Every option on: the values a lint and a render must accept. */
const EVERY_OPTION = [
  'serviceMonitor.enabled=true',
  'serviceMonitor.interval=30s',
  'serviceMonitor.labels.release=prometheus',
  'nodeSelector.kubernetes\\.io/os=linux',
  'tolerations[0].key=dedicated',
  'tolerations[0].operator=Exists',
  'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone',
  'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
  'podSecurityContext.runAsUser=20000',
  'resources.limits.memory=2Gi',
  'redis.nodeSelector.kubernetes\\.io/os=linux',
];

type Labels = Record<string, string>;

/** The label sets an object selects Pods (or Services) by. */
function selectors(object: KubeObject): Labels[] {
  const spec = object.spec ?? {};
  switch (object.kind) {
    case 'Deployment':
      return [spec.selector.matchLabels];
    case 'Service':
      return [spec.selector];
    case 'ServiceMonitor':
      return [spec.selector.matchLabels];
    case 'NetworkPolicy':
      return [
        spec.podSelector.matchLabels,
        ...(spec.ingress ?? []).flatMap((rule: { from?: { podSelector?: { matchLabels: Labels } }[] }) =>
          (rule.from ?? []).flatMap((peer) => (peer.podSelector ? [peer.podSelector.matchLabels] : [])),
        ),
      ];
    default:
      return [];
  }
}

/** The labels of what a selector can match: Pod templates, and Services (for a ServiceMonitor). */
function selectable(objects: KubeObject[]): Labels[] {
  return objects.flatMap((o) =>
    o.kind === 'Deployment'
      ? [o.spec.template.metadata.labels as Labels]
      : o.kind === 'Service'
        ? [o.metadata.labels as Labels]
        : [],
  );
}

const matches = (selector: Labels, labels: Labels): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

const identity = (o: KubeObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

describe('the Helm chart by Helm conventions (real Helm 3.17)', () => {
  it(
    'passes helm lint --strict with the defaults and every option, and fails it on a mistyped value',
    async () => {
      await helm(['lint', '--strict', CHART]);
      await helm(['lint', '--strict', CHART, ...EVERY_OPTION.flatMap((s) => ['--set', s])]);
      await helm([
        'lint',
        '--strict',
        CHART,
        '--set',
        'rbac.scope=namespaced',
        '--set',
        'rbac.namespaces={apps}',
      ]);
      await expect(helm(['lint', '--strict', CHART, '--set', 'replcas=3'])).rejects.toThrow(
        /Additional property replcas is not allowed/,
      );
    },
    HELM_MS,
  );

  it(
    'refuses a mistyped value with the schema message (--set replcas=3)',
    async () => {
      await expect(helmTemplate(CHART, 'rewind', NS, ['replcas=3'])).rejects.toThrow(
        /values don't meet the specifications of the schema[\s\S]*Additional property replcas is not allowed/,
      );
      await expect(helmTemplate(CHART, 'rewind', NS, ['image.tga=1.0.0'])).rejects.toThrow(
        /image: Additional property tga is not allowed/,
      );
      await expect(helmTemplate(CHART, 'rewind', NS, ['replicas=two'])).rejects.toThrow(
        /replicas: Invalid type\. Expected: integer, given: string/,
      );
    },
    HELM_MS,
  );

  it(
    'refuses a config Rewind would refuse at start, with the schema message (--set config.policy.mode=yolo), and takes rewind.example.yaml',
    async () => {
      await expect(helmTemplate(CHART, 'rewind', NS, ['config.policy.mode=yolo'])).rejects.toThrow(
        /config\.policy\.mode must be one of the following: "auto-merge", "propose", "observe"/,
      );
      await expect(helmTemplate(CHART, 'rewind', NS, ['config.policy.gracePeriod=soon'])).rejects.toThrow(
        /config\.policy\.gracePeriod: Does not match pattern/,
      );
      await expect(helmTemplate(CHART, 'rewind', NS, ['config.polcy.mode=observe'])).rejects.toThrow(
        /config: Additional property polcy is not allowed/,
      );
      await expect(helmTemplate(CHART, 'rewind', NS, ['redis.enabled=false'])).rejects.toThrow(
        /redis\.externalUrl: String length must be greater than or equal to 1/,
      );
      // What Rewind takes, the chart takes: every key of rewind.example.yaml.
      const example = parse(await readFile(path.join(ROOT, 'rewind.example.yaml'), 'utf8'));
      const objects = docs(
        await helmTemplate(CHART, 'rewind', NS, [], [`config=${JSON.stringify(example)}`]),
      );
      const configMap = objects.find((o) => o.kind === 'ConfigMap')!;
      const rendered = parse((configMap['data'] as Record<string, string>)['rewind.yaml']!);
      expect(rendered.policy).toEqual(example.policy);
      expect(rendered.apps).toEqual(example.apps);
    },
    HELM_MS,
  );

  it(
    'renders two releases (a and b) in one namespace with no common object and no selector that reaches the other',
    async () => {
      const a = docs(await helmTemplate(CHART, 'a', NS, EVERY_OPTION));
      const b = docs(await helmTemplate(CHART, 'b', NS, EVERY_OPTION));
      const namesOfB = new Set(b.map(identity));
      expect(a.map(identity).filter((id) => namesOfB.has(id))).toEqual([]);
      expect(a.map((o) => o.kind)).toContain('ServiceMonitor');
      // Names come from the release: <release>-rewind, and RBAC binds each release's own account.
      expect(a.find((o) => o.kind === 'Deployment')!.metadata.name).toBe('a-rewind');
      expect(a.find((o) => o.kind === 'ServiceAccount')!.metadata.name).toBe('a-rewind');
      for (const binding of a.filter((o) => o.kind.endsWith('RoleBinding')))
        expect(binding['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'a-rewind', namespace: NS }]);
      for (const [mine, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const own = selectable(mine);
        for (const selector of mine.flatMap(selectors)) {
          expect(
            own.some((labels) => matches(selector, labels)),
            JSON.stringify(selector),
          ).toBe(true);
          expect(
            selectable(other).filter((labels) => matches(selector, labels)),
            JSON.stringify(selector),
          ).toEqual([]);
        }
      }
      for (const object of [...a, ...b]) {
        expect(Object.keys(object.metadata.labels ?? {}), identity(object)).toEqual(
          expect.arrayContaining([
            'app.kubernetes.io/name',
            'app.kubernetes.io/instance',
            'app.kubernetes.io/version',
            'app.kubernetes.io/managed-by',
            'helm.sh/chart',
          ]),
        );
      }
      const config = parse(
        (a.find((o) => o.kind === 'ConfigMap')!['data'] as Record<string, string>)['rewind.yaml']!,
      );
      expect(config.leaderElection).toEqual({ namespace: NS, name: 'a-rewind-detector' });
      expect(config.chatops.pauseConfigMap).toEqual({ namespace: NS, name: 'a-rewind-switches' });
      expect(config.redis.url).toBe('redis://a-rewind-redis:6379');
    },
    HELM_MS,
  );
});
