{{/* Chart name, overridable. */}}
{{- define "glassbox.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "glassbox.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "glassbox.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "glassbox.labels" -}}
helm.sh/chart: {{ include "glassbox.chart" . }}
{{ include "glassbox.selectorLabels" . }}
app.kubernetes.io/version: {{ include "glassbox.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: glassbox
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "glassbox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "glassbox.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "glassbox.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "glassbox.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "glassbox.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* repository@digest when a digest is given (the deploy workflow pins one), else repository:tag. */}}
{{- define "glassbox.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "glassbox.imageTag" .) }}
{{- end }}
{{- end }}

{{/* Policy-scan exceptions shared by every pod-bearing resource, each with its reason. */}}
{{- define "glassbox.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=Defaults cannot know a digest; the deploy workflow sets image.digest
checkov.io/skip2: CKV_K8S_15=IfNotPresent is right for immutable release tags and digests
{{- if .Values.registry.existingSecret }}
checkov.io/skip3: CKV_K8S_35=MLflow's client reads its credentials from the environment only
{{- end }}
{{- end }}

{{/* The Prometheus query KEDA scales on: prediction requests per second in this release. */}}
{{- define "glassbox.kedaQuery" -}}
sum(rate(http_requests_total{job="{{ include "glassbox.name" . }}", namespace="{{ .Release.Namespace }}", handler=~"/predict|/predict/batch"}[1m]))
{{- end }}

{{/*
The named port Prometheus scrapes: "metrics" when metrics.port is set, else "http".
*/}}
{{- define "glassbox.metricsPortName" -}}
{{- if .Values.metrics.port -}}metrics{{- else -}}http{{- end -}}
{{- end }}

{{/*
The container port number Prometheus scrapes.
*/}}
{{- define "glassbox.metricsPort" -}}
{{- if .Values.metrics.port -}}{{ .Values.metrics.port | int }}{{- else -}}{{ .Values.containerPort | int }}{{- end -}}
{{- end }}

{{/* Secure by default: a release verifies model signatures unless told, in so many words,
not to (docs/security.md). */}}
{{- define "glassbox.requireModelKey" -}}
{{- if and (not .Values.config.modelPublicKey) (not .Values.allowUnsignedModels) }}
{{- fail "config.modelPublicKey is not set: pods would load unsigned models. Set it to the public key the train workflow signs with (`python -m app.ml.signing keygen`), or set allowUnsignedModels=true for a development release." }}
{{- end }}
{{- if and .Values.registry.modelUri (not .Values.registry.trackingUri) }}
{{- fail "registry.modelUri needs registry.trackingUri (the MLflow tracking server holding the registry)." }}
{{- end }}
{{- if and .Values.registry.modelUri .Values.config.modelPublicKey (not .Values.registry.existingSecret) }}
{{- fail "registry.modelUri with config.modelPublicKey: each fetched version is signed in the pod, so registry.existingSecret must hold MODEL_SIGNING_KEY (or set allowUnsignedModels=true and leave config.modelPublicKey empty)." }}
{{- end }}
{{- end }}

{{/* The Secret holding FEEDBACK_TOKEN: an existing one, the generated one, or none. */}}
{{- define "glassbox.feedbackTokenSecret" -}}
{{- $token := .Values.quality.feedbackToken -}}
{{- if $token.existingSecret -}}
{{ $token.existingSecret }}
{{- else if $token.generate -}}
{{ include "glassbox.fullname" . }}-feedback-token
{{- end -}}
{{- end }}

{{/* The projected sources of the secrets volume: each secret setting a file named after
it in SECRETS_DIR; empty when there is none. */}}
{{- define "glassbox.secretFiles" -}}
{{- with include "glassbox.feedbackTokenSecret" . }}
- secret:
    name: {{ . | quote }}
    items:
      - key: {{ $.Values.quality.feedbackToken.key | quote }}
        path: FEEDBACK_TOKEN
{{- end }}
{{- with .Values.tracing.headersSecret }}
- secret:
    name: {{ . | quote }}
    items:
      - key: OTEL_EXPORTER_OTLP_HEADERS
        path: OTEL_EXPORTER_OTLP_HEADERS
{{- end }}
{{- with .Values.quality.predictionStore }}
{{- if .existingSecret }}
- secret:
    name: {{ .existingSecret | quote }}
    items:
      - key: {{ .urlKey | quote }}
        path: PREDICTION_STORE_URL
- secret:
    name: {{ .existingSecret | quote }}
    optional: true
    items:
      - key: {{ .passwordKey | quote }}
        path: PREDICTION_STORE_PASSWORD
{{- end }}
{{- end }}
{{- end }}
