{{/* Common labels for every object of the release. */}}
{{- define "lwt.labels" -}}
app.kubernetes.io/name: liftwing-triton
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
liftwing-triton/environment: {{ .Values.environment }}
{{- end -}}

{{/* The runtime a model uses: the CPU or the GPU variant. */}}
{{- define "lwt.runtime" -}}
{{- if .model.gpu -}}{{ .root.Release.Name }}-triton-gpu{{- else -}}{{ .root.Release.Name }}-triton-cpu{{- end -}}
{{- end -}}

{{/* A model's storageUri: its own, else <storage.uri>/<name>. */}}
{{- define "lwt.storageUri" -}}
{{- .model.storageUri | default (printf "%s/%s" (trimSuffix "/" .root.Values.storage.uri) .model.name) -}}
{{- end -}}
