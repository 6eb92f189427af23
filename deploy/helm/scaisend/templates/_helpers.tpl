{{/*
Names. Every object is <release>-scaisend[-<component>] (or fullnameOverride[-<component>]),
so the Deployments are <release>-scaisend-api, -worker and -smtp. The prefix is cut at 40
characters so that the longest name (<prefix>-worker-metrics) stays a valid 63-character DNS label.
*/}}
{{- define "scaisend.name" -}}
{{- default "scaisend" .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "scaisend.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "scaisend.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* (dict "root" $ "component" "api") -> <fullname>-api */}}
{{- define "scaisend.componentName" -}}
{{- printf "%s-%s" (include "scaisend.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scaisend.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scaisend.labels" -}}
helm.sh/chart: {{ include "scaisend.chart" . }}
app.kubernetes.io/name: {{ include "scaisend.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scaisend
{{- end -}}

{{/* (dict "root" $ "component" "api") */}}
{{- define "scaisend.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scaisend.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "scaisend.componentLabels" -}}
{{ include "scaisend.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "scaisend.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "scaisend.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "scaisend.secretName" -}}
{{- default (include "scaisend.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* (dict "root" $ "image" <image block>) -> registry/repository:tag or @digest */}}
{{- define "scaisend.image" -}}
{{- $root := .root -}}
{{- $registry := .image.registry | default $root.Values.image.registry | default $root.Values.global.imageRegistry -}}
{{- $tag := .image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion | toString -}}
{{- $ref := .image.repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- end -}}

{{/*
One environment value as the string a ConfigMap holds. YAML numbers arrive as float64, so whole
numbers are printed as integers (3600, not 3.6e+03); lists become comma-separated strings.
*/}}
{{- define "scaisend.envValue" -}}
{{- $v := . -}}
{{- if kindIs "slice" $v -}}
{{- $parts := list -}}
{{- range $v }}{{ $parts = append $parts (include "scaisend.envValue" .) }}{{ end -}}
{{- join "," $parts -}}
{{- else if kindIs "float64" $v -}}
{{- if eq $v (floor $v) }}{{ printf "%d" (int64 $v) }}{{ else }}{{ $v }}{{ end -}}
{{- else -}}
{{- toString $v -}}
{{- end -}}
{{- end -}}

{{/*
(dict "env" <map> ["b64" true]) -> "NAME: value" lines, sorted; null, "" and empty lists are left
out (so the service's default applies). An empty map gives "{}".
*/}}
{{- define "scaisend.envData" -}}
{{- $lines := list -}}
{{- range $name, $value := .env }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value "")) (and (kindIs "slice" $value) (eq (len $value) 0))) }}
{{- $text := include "scaisend.envValue" $value }}
{{- $lines = append $lines (printf "%s: %s" $name (ternary (b64enc $text) $text (default false $.b64) | quote)) }}
{{- end }}
{{- end }}
{{- if $lines }}{{ join "\n" $lines }}{{ else }}{}{{ end -}}
{{- end -}}

{{/* Variables a service's ConfigMap gets from structured values: (dict "root" $ "component" "api") */}}
{{- define "scaisend.derivedEnv" -}}
{{- $svc := index .root.Values .component -}}
{{- $env := dict -}}
{{- if eq .component "api" -}}
{{- $_ := set $env "API_PORT" $svc.containerPort -}}
{{- else -}}
{{- $_ := set $env "METRICS_PORT" $svc.metrics.port -}}
{{- end -}}
{{- if eq .component "smtp" -}}
{{- $_ := set $env "SMTP_INBOUND_PORT" $svc.inbound.containerPort -}}
{{- if $svc.inbound.tls.secretName -}}
{{- $_ := set $env "SMTP_INBOUND_TLS_CERT" "/etc/scaisend/inbound-tls/tls.crt" -}}
{{- $_ := set $env "SMTP_INBOUND_TLS_KEY" "/etc/scaisend/inbound-tls/tls.key" -}}
{{- end -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* The component's ConfigMap data: its own config plus the derived variables. */}}
{{- define "scaisend.componentEnv" -}}
{{- $svc := index .root.Values .component -}}
{{- $env := merge (include "scaisend.derivedEnv" . | fromYaml) (deepCopy ($svc.config | default dict)) -}}
{{- include "scaisend.envData" (dict "env" $env) -}}
{{- end -}}

{{/* Is the component's replica count owned by an HPA or a KEDA ScaledObject? */}}
{{- define "scaisend.autoscaled" -}}
{{- if (index .root.Values .component).autoscaling.enabled }}true{{ end -}}
{{- end -}}

{{- define "scaisend.kedaEnabled" -}}
{{- $as := (index .root.Values .component).autoscaling -}}
{{- if and $as.enabled (dig "keda" "enabled" false $as) }}true{{ end -}}
{{- end -}}

{{/* PromQL label matchers of this release, templated (metrics.selector). */}}
{{- define "scaisend.promSelector" -}}
{{- tpl .Values.metrics.selector . -}}
{{- end -}}

{{/* Join a selector and an extra matcher with a comma when both are set. */}}
{{- define "scaisend.matchers" -}}
{{- $parts := list -}}
{{- range . }}{{ if . }}{{ $parts = append $parts . }}{{ end }}{{ end -}}
{{- join "," $parts -}}
{{- end -}}

{{/* topologySpreadConstraints of a component: its own list, or the chart-wide defaults. */}}
{{- define "scaisend.topologySpread" -}}
{{- $svc := index .root.Values .component -}}
{{- if $svc.topologySpreadConstraints -}}
{{- toYaml $svc.topologySpreadConstraints -}}
{{- else if .root.Values.topologySpread.enabled -}}
{{- $ctx := . -}}
{{- range .root.Values.topologySpread.topologyKeys }}
- maxSkew: {{ $ctx.root.Values.topologySpread.maxSkew }}
  topologyKey: {{ . }}
  whenUnsatisfiable: {{ $ctx.root.Values.topologySpread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "scaisend.selectorLabels" $ctx | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end -}}
{{- end -}}

{{/* Checks that JSON Schema cannot express. */}}
{{- define "scaisend.validate" -}}
{{- range $component := list "api" "worker" "smtp" }}
{{- $svc := index $.Values $component }}
{{- if and $svc.autoscaling.enabled (gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) is above maxReplicas (%v)" $component $svc.autoscaling.minReplicas $svc.autoscaling.maxReplicas) }}
{{- end }}
{{- if and $svc.autoscaling.enabled (not (dig "keda" "enabled" false $svc.autoscaling)) (kindIs "invalid" $svc.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" $svc.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail (printf "%s.autoscaling: the HPA needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" $component) }}
{{- end }}
{{- end }}
{{- if eq (int .Values.smtp.metrics.port) (int .Values.smtp.inbound.containerPort) }}
{{- fail "smtp.metrics.port and smtp.inbound.containerPort must differ" }}
{{- end }}
{{- end -}}
