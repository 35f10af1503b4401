// Which Kubernetes protobuf messages the sandbox decodes, and where their .proto subsets live.

/** One .proto file beside this one per Go package it comes from. */
export const PROTO_FILES = [
  {
    file: 'runtime.proto',
    pkg: 'k8s.io.apimachinery.pkg.runtime',
    source: 'k8s.io/apimachinery/pkg/runtime/generated.proto',
  },
  {
    file: 'meta-v1.proto',
    pkg: 'k8s.io.apimachinery.pkg.apis.meta.v1',
    source: 'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto',
  },
  {
    file: 'intstr.proto',
    pkg: 'k8s.io.apimachinery.pkg.util.intstr',
    source: 'k8s.io/apimachinery/pkg/util/intstr/generated.proto',
  },
  {
    file: 'resource.proto',
    pkg: 'k8s.io.apimachinery.pkg.api.resource',
    source: 'k8s.io/apimachinery/pkg/api/resource/generated.proto',
  },
  { file: 'core-v1.proto', pkg: 'k8s.io.api.core.v1', source: 'k8s.io/api/core/v1/generated.proto' },
  { file: 'apps-v1.proto', pkg: 'k8s.io.api.apps.v1', source: 'k8s.io/api/apps/v1/generated.proto' },
  { file: 'events-v1.proto', pkg: 'k8s.io.api.events.v1', source: 'k8s.io/api/events/v1/generated.proto' },
  {
    file: 'authorization-v1.proto',
    pkg: 'k8s.io.api.authorization.v1',
    source: 'k8s.io/api/authorization/v1/generated.proto',
  },
] as const;

/** The envelope's payload message: `k8s\0` + runtime.Unknown{typeMeta, raw, contentEncoding, contentType}. */
export const UNKNOWN_TYPE = 'k8s.io.apimachinery.pkg.runtime.Unknown';

/** apiVersion/kind -> message, for every kind a protobuf body may carry. */
export const KIND_MESSAGES: Readonly<Record<string, string>> = {
  'v1/Namespace': 'k8s.io.api.core.v1.Namespace',
  'v1/ConfigMap': 'k8s.io.api.core.v1.ConfigMap',
  'v1/Secret': 'k8s.io.api.core.v1.Secret',
  'v1/Service': 'k8s.io.api.core.v1.Service',
  'v1/Pod': 'k8s.io.api.core.v1.Pod',
  'v1/Event': 'k8s.io.api.core.v1.Event',
  'apps/v1/Deployment': 'k8s.io.api.apps.v1.Deployment',
  'apps/v1/ReplicaSet': 'k8s.io.api.apps.v1.ReplicaSet',
  'events.k8s.io/v1/Event': 'k8s.io.api.events.v1.Event',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'k8s.io.api.authorization.v1.SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'k8s.io.api.authorization.v1.SelfSubjectRulesReview',
};

export const PROTO_ROOT_TYPES: readonly string[] = [UNKNOWN_TYPE, ...Object.values(KIND_MESSAGES)];
