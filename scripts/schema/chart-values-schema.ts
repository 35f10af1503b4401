// The Helm chart's values.schema.json: the chart's own values written here, `config` (rewind.yaml)
// generated from the zod schema. Unknown keys are errors at every level the chart owns, so a typo
// (`--set replcas=3`) fails `helm install` instead of being ignored.
import { configJsonSchema, DRAFT, type JsonSchema } from './config-json-schema.ts';

const K8S_NAME = '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$';

const text = (description: string, extra: JsonSchema = {}): JsonSchema => ({
  type: 'string',
  description,
  ...extra,
});
const flag = (description: string): JsonSchema => ({ type: 'boolean', description });
/** A name the chart derives from the full name when empty. */
const derivedName = (description: string): JsonSchema =>
  text(description, { anyOf: [{ const: '' }, { pattern: K8S_NAME, maxLength: 253 }] });
const strings = (description: string): JsonSchema => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});
/** A Kubernetes field passed through as it is (the API server validates it). */
const kubernetes = (type: 'object' | 'array', field: string, description: string): JsonSchema => ({
  type,
  description: `${description} (Kubernetes ${field}).`,
});
const quantities: JsonSchema = {
  type: 'object',
  additionalProperties: { type: ['string', 'number'] },
};
const resources = (description: string): JsonSchema => ({
  type: 'object',
  description: `${description} (Kubernetes ResourceRequirements).`,
  properties: { requests: quantities, limits: quantities, claims: { type: 'array' } },
  additionalProperties: false,
});
const scheduling = (of: string): Record<string, JsonSchema> => ({
  nodeSelector: strings(`Node labels ${of} Pods must run on.`),
  tolerations: kubernetes('array', 'tolerations', `Taints ${of} Pods tolerate`),
  affinity: kubernetes('object', 'affinity', `Node and Pod affinity of ${of} Pods`),
});
const closed = (description: string, properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  ...(description ? { description } : {}),
  properties,
  additionalProperties: false,
});

export function chartValuesJsonSchema(): JsonSchema {
  return {
    $schema: DRAFT,
    title: 'Values of the Rewind Helm chart',
    ...closed('', {
      // Helm passes global values to every chart, a parent's included.
      global: { type: 'object' },
      nameOverride: text('Replaces the chart name (rewind) in object names and the name label.'),
      fullnameOverride: text(
        'Replaces the object names (default: the release name when it contains rewind, else <release>-rewind).',
      ),
      namespace: closed('', {
        create: flag(
          'Render the release namespace with the restricted Pod Security labels (one release per namespace).',
        ),
      }),
      image: closed("Rewind's image.", {
        repository: text('The image repository.', { minLength: 1 }),
        tag: text("The tag; empty: the chart's appVersion."),
        pullPolicy: text('The imagePullPolicy.', { enum: ['Always', 'IfNotPresent', 'Never'] }),
      }),
      imagePullSecrets: {
        type: 'array',
        description: 'Secrets to pull the image with.',
        items: closed('', { name: text('A Secret in the release namespace.', { minLength: 1 }) }),
      },
      serviceAccount: closed("Rewind's ServiceAccount (RBAC binds it).", {
        create: flag('Create it; false: use serviceAccount.name, which must exist.'),
        name: derivedName('Its name; empty: the full name (or default when create is false).'),
        annotations: strings('Its annotations (e.g. for workload identity).'),
      }),
      replicas: {
        type: 'integer',
        minimum: 0,
        description: 'Rewind Pods; jobs run in all, the detector in the one holding the Lease.',
      },
      leaderElection: closed("The detector's Lease (config.leaderElection is filled in from it).", {
        leaseName: derivedName("The Lease's name in the release namespace; empty: <full name>-detector."),
      }),
      rbac: {
        ...closed('What Rewind may read and patch (exactly the calls it makes).', {
          create: flag('Create the RBAC objects.'),
          scope: text(
            'cluster: a ClusterRole and ClusterRoleBinding; namespaced: a Role and RoleBinding in each of rbac.namespaces, and Rewind watches only those.',
            { enum: ['cluster', 'namespaced'] },
          ),
          namespaces: {
            type: 'array',
            description: 'The namespaces Rewind watches with scope namespaced.',
            items: { type: 'string', pattern: K8S_NAME },
            uniqueItems: true,
          },
        }),
        if: { properties: { scope: { const: 'namespaced' } }, required: ['scope'] },
        then: { properties: { namespaces: { minItems: 1 } } },
      },
      switchesConfigMap: derivedName(
        'The ConfigMap of the global pause switch (config.chatops.pauseConfigMap); empty: <full name>-switches.',
      ),
      config: {
        ...configJsonSchema(),
        description:
          'rewind.yaml (every key: docs/configuration.md); redis.url, kubernetes.namespaces, leaderElection.namespace/name and chatops.pauseConfigMap are filled in by the chart.',
      },
      githubTokenSecret: derivedName(
        'The Secret (not created by the chart) whose key token becomes GITHUB_TOKEN; empty: <full name>-github.',
      ),
      resources: resources("Rewind's requests and limits"),
      podAnnotations: strings("Annotations of Rewind's Pods."),
      podLabels: strings("Extra labels of Rewind's Pods."),
      podSecurityContext: kubernetes('object', 'PodSecurityContext', "Rewind's Pod security context"),
      securityContext: kubernetes('object', 'SecurityContext', "Rewind's container security context"),
      ...scheduling("Rewind's"),
      serviceMonitor: closed('A Prometheus Operator ServiceMonitor for /metrics.', {
        enabled: flag('Render it (needs the monitoring.coreos.com CRDs).'),
        interval: text("Scrape interval; empty: Prometheus' own.", { pattern: '^([0-9]+(ms|s|m|h))*$' }),
        scrapeTimeout: text("Scrape timeout; empty: Prometheus' own.", { pattern: '^([0-9]+(ms|s|m|h))*$' }),
        labels: strings("Extra labels (what a Prometheus' serviceMonitorSelector matches)."),
      }),
      redis: {
        ...closed('The Redis Rewind keeps its queues and incidents in.', {
          enabled: flag('Run Redis in the release; false: set redis.externalUrl.'),
          externalUrl: text('Your Redis (redis:// or rediss://) when redis.enabled is false.', {
            anyOf: [{ const: '' }, { pattern: '^rediss?://' }],
          }),
          image: text('The Redis image.', { minLength: 1 }),
          storage: text('Size of its PersistentVolumeClaim.', { minLength: 1 }),
          storageClassName: text("Its StorageClass; empty: the cluster's default."),
          resources: resources("Redis' requests and limits"),
          networkPolicy: flag("Only Rewind's Pods may reach Redis."),
          ...scheduling("Redis'"),
        }),
        if: { properties: { enabled: { const: false } }, required: ['enabled'] },
        then: { properties: { externalUrl: { minLength: 1 } } },
      },
    }),
  };
}
