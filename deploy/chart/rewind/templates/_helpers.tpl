{{/* The chart's name, or nameOverride. */}}
{{- define "rewind.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Object names, as `helm create` makes them: fullnameOverride, else the release name when it contains the
chart's name (release rewind: the kustomize base's names), else <release>-<name>. 52 characters leave
room for the suffixes (-redis, -redis-data) within the 63 of a Service or label value.
*/}}
{{- define "rewind.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "rewind.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rewind.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The image tag actually run: image.tag, else the chart's appVersion. */}}
{{- define "rewind.version" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* Labels of every object; "component" is bot or redis (empty for objects of the whole release). */}}
{{- define "rewind.labels" -}}
helm.sh/chart: {{ include "rewind.chart" .root }}
{{ include "rewind.selectorLabels" . }}
app.kubernetes.io/version: {{ include "rewind.version" .root | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: rewind
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* What a selector matches: name and instance (release), so two releases never select each other's Pods. */}}
{{- define "rewind.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rewind.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "rewind.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rewind.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rewind.leaseName" -}}
{{- default (printf "%s-detector" (include "rewind.fullname" .)) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- define "rewind.switchesConfigMap" -}}
{{- default (printf "%s-switches" (include "rewind.fullname" .)) .Values.switchesConfigMap -}}
{{- end -}}

{{- define "rewind.githubTokenSecret" -}}
{{- default (printf "%s-github" (include "rewind.fullname" .)) .Values.githubTokenSecret -}}
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
# Whether an ApplicationSet would undo a hold on the Applications it generates (read only).
- apiGroups: ['argoproj.io']
  resources: ['applicationsets']
  verbs: ['get']
{{- end -}}

{{- define "rewind.subjects" -}}
- kind: ServiceAccount
  name: {{ include "rewind.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
