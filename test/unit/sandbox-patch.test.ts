// The patch rules of the sandbox API server, strategic merge patch above all: what kubectl sends
// for apply / set image / patch must land as it does on a real cluster.
import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../src/sandbox/patch.ts';
import { StatusError } from '../../src/sandbox/store.ts';

function deployment(containers: unknown[]): any {
  return { spec: { replicas: 2, template: { spec: { containers } } } };
}

const app = {
  name: 'app',
  image: 'img:1',
  env: [
    { name: 'A', value: '1' },
    { name: 'B', value: '2' },
  ],
  ports: [{ containerPort: 8080, name: 'http' }],
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
};
const sidecar = { name: 'sidecar', image: 'proxy:1' };

describe('strategic merge patch', () => {
  it('merges containers by name and keeps the fields the patch does not mention (kubectl set image)', () => {
    const patch = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
            containers: [{ name: 'app', image: 'img:2' }],
          },
        },
      },
    };
    const result = applyStrategicMergePatch(deployment([app, sidecar]), patch);
    expect(result.spec.template.spec.containers).toEqual([{ ...app, image: 'img:2' }, sidecar]);
  });

  it('merges env by name, ports by containerPort and volumeMounts by mountPath', () => {
    const patch = {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'app',
                env: [
                  { name: 'B', value: 'two' },
                  { name: 'C', value: '3' },
                ],
                ports: [{ containerPort: 8080, protocol: 'TCP' }, { containerPort: 9090 }],
                volumeMounts: [{ mountPath: '/data', readOnly: true }],
              },
            ],
          },
        },
      },
    };
    const [container] = applyStrategicMergePatch(deployment([app]), patch).spec.template.spec.containers;
    expect(container.env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'two' },
      { name: 'C', value: '3' },
    ]);
    expect(container.ports).toEqual([
      { containerPort: 8080, name: 'http', protocol: 'TCP' },
      { containerPort: 9090 },
    ]);
    expect(container.volumeMounts).toEqual([{ name: 'data', mountPath: '/data', readOnly: true }]);
  });

  it('merges a Service’s ports by port, not containerPort', () => {
    const service = { spec: { ports: [{ port: 80, targetPort: 8080 }] } };
    const result = applyStrategicMergePatch(service, { spec: { ports: [{ port: 80, targetPort: 9090 }] } });
    expect(result.spec.ports).toEqual([{ port: 80, targetPort: 9090 }]);
  });

  it('merges conditions by type', () => {
    const status = {
      status: {
        conditions: [
          { type: 'Available', status: 'True' },
          { type: 'Progressing', status: 'True' },
        ],
      },
    };
    const result = applyStrategicMergePatch(status, {
      status: { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] },
    });
    expect(result.status.conditions).toEqual([
      { type: 'Available', status: 'True' },
      { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' },
    ]);
  });

  it('deletes a list element with $patch: delete and a key with null', () => {
    const patch = {
      spec: {
        replicas: null,
        template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } },
      },
    };
    const result = applyStrategicMergePatch(deployment([app, sidecar]), patch);
    expect(result.spec.replicas).toBeUndefined();
    expect(result.spec.template.spec.containers).toEqual([app]);
  });

  it('replaces a list with a $patch: replace element and a map with $patch: replace', () => {
    const list = applyStrategicMergePatch(deployment([app, sidecar]), {
      spec: { template: { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'x' }] } } },
    });
    expect(list.spec.template.spec.containers).toEqual([{ name: 'only', image: 'x' }]);

    const map = applyStrategicMergePatch(
      { metadata: { labels: { a: '1', b: '2' } } },
      { metadata: { labels: { $patch: 'replace', c: '3' } } },
    );
    expect(map.metadata.labels).toEqual({ c: '3' });
  });

  it('drops keys outside $retainKeys (strategy type switch) and ignores $setElementOrder', () => {
    const original = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%' } } } };
    const result = applyStrategicMergePatch(original, {
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null },
        '$setElementOrder/containers': [{ name: 'app' }],
      },
    });
    expect(result.spec).toEqual({ strategy: { type: 'Recreate' } });
  });

  it('replaces lists without a merge key and merges finalizers as a set', () => {
    const original = { metadata: { finalizers: ['a'] }, spec: { args: ['--x'] } };
    const result = applyStrategicMergePatch(original, {
      metadata: { finalizers: ['a', 'b'], '$deleteFromPrimitiveList/finalizers': ['a'] },
      spec: { args: ['--y'] },
    });
    expect(result.spec.args).toEqual(['--y']);
    expect(result.metadata.finalizers).toEqual(['b']);
  });

  it('does not modify its inputs', () => {
    const original = deployment([app]);
    const before = JSON.stringify(original);
    applyStrategicMergePatch(original, {
      spec: { template: { spec: { containers: [{ name: 'app', image: 'z' }] } } },
    });
    expect(JSON.stringify(original)).toBe(before);
  });
});

describe('JSON merge patch', () => {
  it('merges maps, deletes with null and replaces lists', () => {
    const result = applyMergePatch(
      { metadata: { labels: { a: '1', b: '2' } }, spec: { list: [1, 2] } },
      { metadata: { labels: { b: null, c: '3' } }, spec: { list: [3] } },
    );
    expect(result).toEqual({ metadata: { labels: { a: '1', c: '3' } }, spec: { list: [3] } });
  });
});

describe('JSON patch', () => {
  const document = { spec: { replicas: 1, list: ['a', 'c'] }, metadata: { 'a/b': 'x' } };

  it('applies add, replace, remove, move, copy and test', () => {
    const result = applyJsonPatch(document, [
      { op: 'test', path: '/spec/replicas', value: 1 },
      { op: 'replace', path: '/spec/replicas', value: 3 },
      { op: 'add', path: '/spec/list/1', value: 'b' },
      { op: 'add', path: '/spec/list/-', value: 'd' },
      { op: 'copy', from: '/metadata/a~1b', path: '/spec/copied' },
      { op: 'move', from: '/spec/copied', path: '/spec/moved' },
      { op: 'remove', path: '/metadata/a~1b' },
    ]);
    expect(result).toEqual({ spec: { replicas: 3, list: ['a', 'b', 'c', 'd'], moved: 'x' }, metadata: {} });
  });

  it('rejects a failed test and a missing path as 422', () => {
    for (const patch of [
      [{ op: 'test', path: '/spec/replicas', value: 2 }],
      [{ op: 'replace', path: '/spec/missing/deeper', value: 1 }],
      [{ op: 'remove', path: '/spec/nothing' }],
    ]) {
      expect(() => applyJsonPatch(document, patch)).toThrow(StatusError);
      try {
        applyJsonPatch(document, patch);
      } catch (error) {
        expect((error as StatusError).code).toBe(422);
      }
    }
  });
});
