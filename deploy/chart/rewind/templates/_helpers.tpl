{{/* Object names: the release name (default "rewind" gives the kustomize base's names). */}}
{{- define "rewind.fullname" -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; "component" is bot or redis (empty for cluster-wide objects). */}}
{{- define "rewind.labels" -}}
app.kubernetes.io/name: rewind
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: rewind
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "rewind.selectorLabels" -}}
app.kubernetes.io/name: rewind
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "rewind.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:6379" (include "rewind.fullname" .) -}}
{{- else -}}
{{- required "redis.externalUrl is required when redis.enabled is false" .Values.redis.externalUrl -}}
{{- end -}}
{{- end -}}

{{/* What `rewind start` calls (deploy/rbac.yaml; test/e2e/install-rbac.test.ts keeps them equal). */}}
{{- define "rewind.rules" -}}
# Rollout history and convergence (informers): Deployments and their ReplicaSets.
- apiGroups: ['apps']
  resources: ['deployments', 'replicasets']
  verbs: ['list', 'watch']
# Early detection: crash-looping / image-pull-failing Pods.
- apiGroups: ['']
  resources: ['pods']
  verbs: ['list', 'watch']
# Rewind's own Events on the objects it acts on.
- apiGroups: ['']
  resources: ['events']
  verbs: ['create']
# Flux: read the source revision; request reconcile (requestedAt annotation).
- apiGroups: ['source.toolkit.fluxcd.io']
  resources: ['gitrepositories']
  verbs: ['get', 'patch']
# Flux: health and revisions; suspend/resume, requestedAt, Rewind's records.
- apiGroups: ['kustomize.toolkit.fluxcd.io']
  resources: ['kustomizations']
  verbs: ['get', 'list', 'watch', 'patch']
# Argo CD: health, sync revision; refresh annotation, sync operation, automated sync off/on.
- apiGroups: ['argoproj.io']
  resources: ['applications']
  verbs: ['get', 'list', 'watch', 'patch']
{{- end -}}

{{- define "rewind.subjects" -}}
- kind: ServiceAccount
  name: {{ .Values.serviceAccount.name }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
