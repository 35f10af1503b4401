// The shipping files are checked by parsing: there is no Docker engine or cluster in CI.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { configSchema } from '../../src/config/schema.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions, with `\` continuations joined and comments dropped. */
function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const match = /^(\S+)\s+(.*)$/.exec(full);
    if (match) out.push({ keyword: match[1]!.toUpperCase(), args: match[2]! });
  }
  return out;
}

function yamlDocs(path: string): any[] {
  return parseAllDocuments(read(path)).map((doc) => {
    expect(doc.errors, `${path}: ${doc.errors.join('; ')}`).toEqual([]);
    return doc.toJS();
  });
}

/** Compose `environment` in either list or map form, as a map (a value-less entry maps to null). */
function composeEnv(env: unknown): Record<string, string | null> {
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry: string) => {
        const eq = entry.indexOf('=');
        return eq === -1 ? [entry, null] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return (env ?? {}) as Record<string, string | null>;
}

describe('Dockerfile', () => {
  const instructions = dockerInstructions(read('Dockerfile'));
  const all = (keyword: string): string[] =>
    instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
  const last = (keyword: string): string | undefined => all(keyword).at(-1);

  it('is a multi-stage build on Node 22 whose final stage is the runtime', () => {
    const froms = all('FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^node:22(-bookworm-slim|-alpine)\b/);
    const copiesFromStage = all('COPY').filter((args) => args.startsWith('--from='));
    expect(copiesFromStage.length).toBeGreaterThan(0);
  });

  it('installs production dependencies only, and git', () => {
    const runs = all('RUN').join('\n');
    expect(runs).toContain('npm ci --omit=dev');
    expect(runs).toMatch(/(apt-get install|apk add)[^\n]*\bgit\b/);
  });

  it('runs as a non-root user from /app with a writable git workdir', () => {
    const user = last('USER');
    expect(user).toBeDefined();
    expect(['10001', '10001:10001', 'node']).toContain(user);
    expect(last('WORKDIR')).toBe('/app');
    expect(all('RUN').join('\n')).toMatch(/chown[^\n]*\/var\/lib\/rewind/);
    expect(last('EXPOSE')).toBe('8080');
  });

  it('starts the compiled CLI with the mounted config', () => {
    expect(JSON.parse(last('ENTRYPOINT') ?? 'null')).toEqual(['node', 'dist/src/cli.js']);
    expect(JSON.parse(last('CMD') ?? 'null')).toEqual(['start', '--config', '/etc/rewind/rewind.yaml']);
  });

  it('keeps secrets and dependencies out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['.git', 'node_modules', '.env', '*.kubeconfig']) expect(ignored).toContain(entry);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'));
  const redis = compose.services.redis;
  const rewind = compose.services.rewind;

  it('declares the redis and rewind services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['redis', 'rewind']);
  });

  it('runs Redis 7 persistent and non-evicting, with a health check', () => {
    expect(redis.image).toMatch(/^redis:7/);
    const command = Array.isArray(redis.command) ? redis.command.join(' ') : String(redis.command);
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(redis.healthcheck.test).toContain('redis-cli');
    expect(redis.healthcheck.test).toContain('ping');
  });

  it('starts rewind after Redis is healthy and points it at the redis service', () => {
    expect(rewind.build.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
    expect(rewind.depends_on.redis.condition).toBe('service_healthy');
    const env = composeEnv(rewind.environment);
    expect(new URL(env['REWIND_REDIS_URL']!).hostname).toBe('redis');
    expect(env).toHaveProperty('GITHUB_TOKEN', null);
    expect(rewind.ports).toContain('8080:8080');
  });

  it('mounts config and kubeconfig read-only and declares every named volume', () => {
    const volumes: string[] = [...rewind.volumes, ...redis.volumes];
    expect(volumes).toContain('./rewind.example.yaml:/etc/rewind/rewind.yaml:ro');
    expect(volumes.some((v) => /:\/etc\/rewind\/kubeconfig:ro$/.test(v))).toBe(true);
    expect(volumes.some((v) => v.endsWith(':/var/lib/rewind'))).toBe(true);
    expect(volumes.some((v) => v.endsWith(':/data'))).toBe(true);
    const named = volumes.map((v) => v.split(':')[0]!).filter((source) => /^[a-z][\w-]*$/.test(source));
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect(Object.keys(compose.volumes)).toContain(name);
  });

  it('mounts an example config that documents every top-level section', () => {
    const config = parse(read('rewind.example.yaml'));
    // Every top-level section of the schema is in the example: set, or (when it needs secrets in
    // the environment) as a commented-out block.
    const text = read('rewind.example.yaml');
    const documented = Object.keys(configSchema.shape).filter(
      (key) => key in config || new RegExp(`^# ${key}:`, 'm').test(text),
    );
    expect(documented).toEqual(Object.keys(configSchema.shape));
    expect(config.forge.type).toBe('direct-push');
    expect(config.policy).toMatchObject({
      mode: 'auto-merge',
      gracePeriod: '30s',
      dryRun: false,
      paused: false,
    });
  });
});

describe('deploy/ kustomize base', () => {
  const kustomization = parse(read('deploy/kustomization.yaml'));
  const resources: string[] = kustomization.resources;
  const objects: any[] = resources.flatMap((file) => yamlDocs(join('deploy', file)));
  const find = (kind: string, name: string): any => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    expect(found, `${kind}/${name}`).toBeDefined();
    return found;
  };

  it('lists only files that exist and parse as Kubernetes objects, in rewind-system', () => {
    expect(kustomization.namespace).toBe('rewind-system');
    for (const file of resources) expect(existsSync(join(root, 'deploy', file)), file).toBe(true);
    for (const object of objects) {
      expect(object.apiVersion, JSON.stringify(object)).toBeTruthy();
      expect(object.kind).toBeTruthy();
      expect(object.metadata.name).toBeTruthy();
    }
    expect(find('Namespace', 'rewind-system')).toBeDefined();
  });

  it('grants least privilege: no wildcards, no secrets, no delete', () => {
    const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) {
      for (const rule of role.rules) {
        for (const field of ['apiGroups', 'resources', 'verbs']) expect(rule[field]).not.toContain('*');
        expect(rule.resources).not.toContain('secrets');
        for (const verb of ['delete', 'deletecollection', 'escalate', 'bind', 'impersonate'])
          expect(rule.verbs).not.toContain(verb);
      }
    }
    const verbsFor = (group: string, resource: string): string[] =>
      roles
        .flatMap((r) => r.rules)
        .filter((rule) => rule.apiGroups.includes(group) && rule.resources.includes(resource))
        .flatMap((rule) => rule.verbs);
    expect(verbsFor('apps', 'replicasets')).toEqual(['list', 'watch']);
    expect(verbsFor('apps', 'deployments')).not.toContain('patch');
    expect(verbsFor('kustomize.toolkit.fluxcd.io', 'kustomizations')).toContain('patch');
    expect(verbsFor('argoproj.io', 'applications')).toContain('patch');
    expect(verbsFor('', 'events')).toEqual(['create']);
    // Leader election: the one Lease by name, create (not limitable by name) in rewind-system only.
    const leaseRules = roles.flatMap((r) =>
      r.rules
        .filter((rule: any) => rule.resources.includes('leases'))
        .map((rule: any) => ({ ...rule, kind: r.kind, namespace: r.metadata.namespace })),
    );
    expect(leaseRules).toEqual([
      expect.objectContaining({
        kind: 'Role',
        namespace: 'rewind-system',
        resourceNames: ['rewind-detector'],
        verbs: ['get', 'update'],
      }),
      expect.objectContaining({ kind: 'Role', namespace: 'rewind-system', verbs: ['create'] }),
    ]);
  });

  it('binds the role to the ServiceAccount the Deployment runs as', () => {
    const deployment = find('Deployment', 'rewind');
    const account = deployment.spec.template.spec.serviceAccountName;
    expect(find('ServiceAccount', account)).toBeDefined();
    const binding = find('ClusterRoleBinding', 'rewind');
    expect(binding.subjects).toContainEqual({
      kind: 'ServiceAccount',
      name: account,
      namespace: 'rewind-system',
    });
    expect(find('ClusterRole', binding.roleRef.name)).toBeDefined();
  });

  it('runs Rewind hardened, with writable emptyDirs, probes and resources', () => {
    const pod = find('Deployment', 'rewind').spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const [container] = pod.containers;
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    const volumes = new Map<string, any>(pod.volumes.map((v: any) => [v.name, v]));
    for (const path of ['/var/lib/rewind', '/tmp']) {
      const mount = container.volumeMounts.find((m: any) => m.mountPath === path);
      expect(mount, path).toBeDefined();
      expect(volumes.get(mount.name).emptyDir, path).toBeDefined();
    }
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.ports).toContainEqual(expect.objectContaining({ containerPort: 8080 }));
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    const token = container.env.find((e: any) => e.name === 'GITHUB_TOKEN');
    expect(token.valueFrom.secretKeyRef).toMatchObject({ name: 'rewind-github', key: 'token' });
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  it('mounts a ConfigMap whose rewind.yaml parses', () => {
    const pod = find('Deployment', 'rewind').spec.template.spec;
    const configVolume = pod.volumes.find((v: any) => v.configMap);
    const configMap = find('ConfigMap', configVolume.configMap.name);
    const config = parse(configMap.data['rewind.yaml']);
    expect(config.redis.url).toBe('redis://rewind-redis:6379');
    expect(config.forge.type).toBe('direct-push');
    expect(pod.containers[0].args).toEqual(['start', '--config', '/etc/rewind/rewind.yaml']);
  });

  it('runs Redis persistent and non-evicting, reachable only from Rewind', () => {
    const redis = find('Deployment', 'rewind-redis').spec.template.spec;
    const args = redis.containers[0].args.join(' ');
    expect(args).toContain('--appendonly yes');
    expect(args).toContain('--maxmemory-policy noeviction');
    const claim = redis.volumes.find((v: any) => v.persistentVolumeClaim).persistentVolumeClaim.claimName;
    expect(find('PersistentVolumeClaim', claim)).toBeDefined();
    expect(find('Service', 'rewind-redis').spec.ports[0].port).toBe(6379);

    const policy = find('NetworkPolicy', 'rewind-redis');
    const redisLabels = find('Deployment', 'rewind-redis').spec.template.metadata.labels;
    expect(redisLabels).toMatchObject(policy.spec.podSelector.matchLabels);
    const rewindLabels = find('Deployment', 'rewind').spec.template.metadata.labels;
    const [from] = policy.spec.ingress[0].from;
    expect(rewindLabels).toMatchObject(from.podSelector.matchLabels);
    expect(redisLabels).not.toMatchObject(from.podSelector.matchLabels);
  });
});
