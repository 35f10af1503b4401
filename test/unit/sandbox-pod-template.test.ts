import { describe, expect, it } from 'vitest';
import {
  POD_TEMPLATE_HASH_LABEL,
  computePodTemplateHash,
  fnv32a,
  templatesEqualIgnoringHash,
} from '../../src/sandbox/pod-template.ts';
import { resolveFenceposts, scaledValue } from '../../src/sandbox/rollout-math.ts';

function template(image: string, labels: Record<string, string> = { app: 'web' }): any {
  return { metadata: { labels }, spec: { containers: [{ name: 'app', image }] } };
}

describe('pod template identity', () => {
  it('hashes the same template to the same short safe-encoded string', () => {
    const hash = computePodTemplateHash(template('nginx:1.27'));
    expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(computePodTemplateHash(template('nginx:1.27'))).toBe(hash);
    expect(computePodTemplateHash(template('nginx:1.28'))).not.toBe(hash);
  });

  it('hashes independently of key order and of the pod-template-hash label', () => {
    const a = {
      spec: { containers: [{ image: 'nginx:1', name: 'app' }] },
      metadata: { labels: { app: 'web' } },
    };
    const b = template('nginx:1', { app: 'web', [POD_TEMPLATE_HASH_LABEL]: 'abc123' });
    expect(computePodTemplateHash(a)).toBe(computePodTemplateHash(b));
  });

  it('steps the hash with the collision count', () => {
    const t = template('nginx:1');
    expect(computePodTemplateHash(t, 1)).not.toBe(computePodTemplateHash(t));
    expect(computePodTemplateHash(t, 0)).toBe(computePodTemplateHash(t));
  });

  it('treats templates that differ only in pod-template-hash as equal', () => {
    const stored = template('nginx:1', { app: 'web', [POD_TEMPLATE_HASH_LABEL]: '5d8f9c7b4' });
    expect(templatesEqualIgnoringHash(stored, template('nginx:1'))).toBe(true);
    expect(templatesEqualIgnoringHash(stored, template('nginx:2'))).toBe(false);
    expect(templatesEqualIgnoringHash(stored, template('nginx:1', { app: 'api' }))).toBe(false);
  });

  it('treats a template with API defaults and one without as equal', () => {
    const defaulted = {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'nginx:1',
            imagePullPolicy: 'IfNotPresent',
            terminationMessagePath: '/dev/termination-log',
            terminationMessagePolicy: 'File',
            resources: {},
            ports: [{ containerPort: 80, protocol: 'TCP' }],
          },
        ],
        restartPolicy: 'Always',
        dnsPolicy: 'ClusterFirst',
        terminationGracePeriodSeconds: 30,
        schedulerName: 'default-scheduler',
        securityContext: {},
      },
    };
    const bare = {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'app', image: 'nginx:1', ports: [{ containerPort: 80 }] }] },
    };
    expect(templatesEqualIgnoringHash(defaulted, bare)).toBe(true);
    const alwaysPull = structuredClone(defaulted);
    alwaysPull.spec.containers[0]!.imagePullPolicy = 'Always';
    expect(templatesEqualIgnoringHash(alwaysPull, bare)).toBe(false);
  });

  it('computes FNV-32a', () => {
    // Reference values of the 32-bit FNV-1a function.
    expect(fnv32a(new TextEncoder().encode(''))).toBe(0x811c9dc5);
    expect(fnv32a(new TextEncoder().encode('a'))).toBe(0xe40c292c);
    expect(fnv32a(new TextEncoder().encode('foobar'))).toBe(0xbf9cf968);
  });
});

describe('rolling update fenceposts', () => {
  it('rounds surge up and unavailability down', () => {
    expect(resolveFenceposts('25%', '25%', 5)).toEqual({ surge: 2, unavailable: 1 });
    expect(resolveFenceposts('25%', '25%', 3)).toEqual({ surge: 1, unavailable: 0 });
    expect(resolveFenceposts(1, 0, 5)).toEqual({ surge: 1, unavailable: 0 });
  });

  it('allows one unavailable replica when both resolve to zero', () => {
    expect(resolveFenceposts(0, 0, 5)).toEqual({ surge: 0, unavailable: 1 });
    expect(resolveFenceposts('10%', '10%', 1)).toEqual({ surge: 1, unavailable: 0 });
    expect(resolveFenceposts('0%', '10%', 3)).toEqual({ surge: 0, unavailable: 1 });
  });

  it('rejects values that are neither integers nor percentages', () => {
    expect(() => scaledValue('abc', 4, true)).toThrow(/IntOrString/);
  });
});
