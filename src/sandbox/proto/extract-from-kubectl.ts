// Regenerates the .proto subset beside this file from a kubectl binary. Kubernetes' Go packages
// register their gzipped FileDescriptorProtos (k8s.io/api/.../generated.proto and
// k8s.io/apimachinery/.../generated.proto) in every client binary, so the field numbers kubectl
// encodes with are read from kubectl itself rather than typed by hand. Only the messages reachable
// from the kinds the sandbox decodes are written, without comments.
//
//   npx tsx src/sandbox/proto/extract-from-kubectl.ts /usr/lib/google-cloud-sdk/bin/kubectl.1.33
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, constants as zlib } from 'node:zlib';
import protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor.js'; // adds Root.fromDescriptor
import { PROTO_FILES, PROTO_ROOT_TYPES } from './k8s-types.ts';

const WANTED =
  /^k8s\.io\/(api\/(core|apps|events|authorization)\/v1|apimachinery\/pkg\/(runtime|util\/intstr|api\/resource|apis\/meta\/v1))\/generated\.proto$/;
const GZIP = Buffer.from([0x1f, 0x8b, 0x08, 0x00]);

function registeredDescriptors(binary: Buffer): Uint8Array {
  const writer = protobuf.Writer.create();
  const seen = new Set<string>();
  for (let at = binary.indexOf(GZIP); at >= 0; at = binary.indexOf(GZIP, at + 4)) {
    let file: Buffer;
    try {
      file = gunzipSync(binary.subarray(at, at + 400_000), { finishFlush: zlib.Z_SYNC_FLUSH });
    } catch {
      continue;
    }
    if (file[0] !== 0x0a) continue; // FileDescriptorProto starts with its name (field 1)
    const name = file.subarray(2, 2 + file[1]!).toString();
    if (!WANTED.test(name) || seen.has(name)) continue;
    seen.add(name);
    writer.uint32(10).bytes(file); // FileDescriptorSet.file = 1
  }
  return writer.finish();
}

/** The message types reachable from the roots, by full name without the leading dot. */
function closure(root: protobuf.Root): protobuf.Type[] {
  const found = new Map<string, protobuf.Type>();
  const visit = (type: protobuf.Type): void => {
    const name = type.fullName.slice(1);
    if (found.has(name)) return;
    found.set(name, type);
    for (const field of type.fieldsArray)
      if (field.resolvedType instanceof protobuf.Type) visit(field.resolvedType);
  };
  for (const name of PROTO_ROOT_TYPES) visit(root.lookupType(name));
  return [...found.values()];
}

function fieldLine(field: protobuf.Field): string {
  const type = field.resolvedType ? field.resolvedType.fullName : field.type;
  if (field instanceof protobuf.MapField)
    return `  map<${field.keyType}, ${type}> ${field.name} = ${field.id};`;
  return `  ${field.repeated ? 'repeated' : 'optional'} ${type} ${field.name} = ${field.id};`;
}

function main(): void {
  const kubectl = process.argv[2];
  if (!kubectl) throw new Error('usage: extract-from-kubectl.ts <kubectl binary>');
  const version = execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  const gitVersion = (JSON.parse(version) as { clientVersion: { gitVersion: string } }).clientVersion
    .gitVersion;
  const root = protobuf.Root.fromDescriptor(registeredDescriptors(readFileSync(kubectl)));
  root.resolveAll();
  const byPackage = new Map<string, protobuf.Type[]>();
  for (const type of closure(root)) {
    const pkg = type.parent!.fullName.slice(1);
    byPackage.set(pkg, [...(byPackage.get(pkg) ?? []), type]);
  }
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const { file, pkg, source } of PROTO_FILES) {
    const types = (byPackage.get(pkg) ?? []).sort((a, b) => a.name.localeCompare(b.name));
    const lines = [
      `// Subset of ${source} (package ${pkg}): the messages the sandbox decodes.`,
      `// Field numbers as registered in kubectl ${gitVersion}; regenerate with extract-from-kubectl.ts.`,
      'syntax = "proto2";',
      `package ${pkg};`,
      '',
      ...types.flatMap((type) => [`message ${type.name} {`, ...type.fieldsArray.map(fieldLine), '}', '']),
    ];
    writeFileSync(path.join(here, file), lines.join('\n'));
  }
}

main();
