// Decoding of kubectl's protobuf request bodies. The bodies are encoded here with protobufjs from the
// same .proto subset; that kubectl's own bytes decode the same is checked against real kubectl in
// test/integration/kubectl-matrix.test.ts.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { PROTO_FILES } from '../../src/sandbox/proto/k8s-types.ts';
import { ProtobufBodies } from '../../src/sandbox/protobuf-body.ts';
import { StatusError } from '../../src/sandbox/store.ts';

const root = new protobuf.Root();
for (const { file } of PROTO_FILES) {
  const text = readFileSync(new URL(`../../src/sandbox/proto/${file}`, import.meta.url), 'utf8');
  protobuf.parse(text, root, { keepCase: true });
}
root.resolveAll();

function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  const unknown = root.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown');
  const body = unknown.encode(unknown.fromObject({ typeMeta: { apiVersion, kind }, raw })).finish();
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), body]);
}

function encode(type: string, object: Record<string, unknown>): Uint8Array {
  const message = root.lookupType(type);
  return message.encode(message.fromObject(object)).finish();
}

function decodeFails(body: Buffer): StatusError {
  try {
    new ProtobufBodies().decode(body);
  } catch (error) {
    if (error instanceof StatusError) return error;
    throw error;
  }
  throw new Error('decoded a body that should fail');
}

describe('protobuf request bodies', () => {
  it('decodes a Secret with Go zero values dropped, bytes as base64 and an unset time left out', () => {
    const raw = encode('k8s.io.api.core.v1.Secret', {
      metadata: { name: 's', namespace: '', generateName: '', creationTimestamp: {}, labels: { a: 'b' } },
      data: { password: Buffer.from('hunter2') },
      type: 'Opaque',
    });
    expect(new ProtobufBodies().decode(envelope('v1', 'Secret', raw))).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', labels: { a: 'b' } },
      data: { password: Buffer.from('hunter2').toString('base64') },
      type: 'Opaque',
    });
  });

  it('keeps an explicit zero of a pointer field (replicas: 0) and renders int-or-strings and quantities', () => {
    const raw = encode('k8s.io.api.apps.v1.Deployment', {
      metadata: { name: 'web' },
      spec: {
        replicas: 0,
        minReadySeconds: 0,
        strategy: {
          rollingUpdate: { maxSurge: { type: 1, strVal: '25%' }, maxUnavailable: { type: 0, intVal: 1 } },
        },
        template: {
          spec: {
            containers: [{ name: 'app', image: 'nginx', resources: { limits: { cpu: { string: '500m' } } } }],
          },
        },
      },
    });
    const object = new ProtobufBodies().decode(envelope('apps/v1', 'Deployment', raw));
    expect(object.spec).toEqual({
      replicas: 0,
      strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      template: {
        spec: { containers: [{ name: 'app', image: 'nginx', resources: { limits: { cpu: '500m' } } }] },
      },
    });
  });

  it('skips fields it does not know (a newer kubectl) instead of failing', () => {
    const known = encode('k8s.io.api.core.v1.ConfigMap', { metadata: { name: 'c' }, data: { k: 'v' } });
    const unknownField = protobuf.Writer.create()
      .uint32((99 << 3) | 2)
      .string('from the future')
      .finish();
    const object = new ProtobufBodies().decode(
      envelope('v1', 'ConfigMap', Buffer.concat([known, unknownField])),
    );
    expect(object).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { k: 'v' },
    });
  });

  it('answers 400 with a clear message for a body without the envelope or with broken bytes', () => {
    expect(decodeFails(Buffer.from('{"kind":"ConfigMap"}'))).toMatchObject({
      code: 400,
      message: expect.stringContaining('"k8s\\0" protobuf envelope'),
    });
    const truncated = envelope(
      'v1',
      'ConfigMap',
      encode('k8s.io.api.core.v1.ConfigMap', { metadata: { name: 'c' } }),
    );
    expect(decodeFails(truncated.subarray(0, truncated.length - 2))).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: expect.stringContaining('not a valid protobuf object'),
    });
  });

  it('answers 415 for a kind it has no message for', () => {
    expect(decodeFails(envelope('batch/v1', 'Job', new Uint8Array()))).toMatchObject({ code: 415 });
  });
});
