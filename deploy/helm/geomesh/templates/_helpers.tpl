{{/*
The name of the StatefulSet, its headless Service and its pods' prefix: the
release name. Pods are <fullname>-0, <fullname>-1, ..., which are the agent
ids. A controller-revision-hash label is <fullname>-<10 characters>, so the
name has at most 52 characters.
*/}}
{{- define "geomesh.fullname" -}}
{{- $name := default .Release.Name .Values.fullnameOverride -}}
{{- if gt (len $name) 52 -}}
{{- fail (printf "the release name (or fullnameOverride) %q has %d characters; at most 52, since it names the StatefulSet and its pods" $name (len $name)) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "geomesh.selectorLabels" -}}
app.kubernetes.io/name: geomesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "geomesh.labels" -}}
{{ include "geomesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: geomesh
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
geomesh.io/region: {{ .Values.region | quote }}
{{- end -}}

{{- define "geomesh.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "geomesh.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "geomesh.image" -}}
{{- $repo := required "image.repository is required: where you pushed the geomesh image (make image builds it)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
geomesh.addr splits an agent address "host:port" (dict "addr" "what") into
JSON {"host": ..., "port": ...}.
*/}}
{{- define "geomesh.addr" -}}
{{- $m := regexFindAll "^(.+):([0-9]+)$" .addr -1 -}}
{{- if not $m -}}
{{- fail (printf "topology: agent %s's %s address %q is not host:port" .id .what .addr) -}}
{{- end -}}
{{- $port := regexFind "[0-9]+$" .addr -}}
{{- $host := trimSuffix (printf ":%s" $port) .addr -}}
{{- $p := atoi $port -}}
{{- if or (lt $p 1) (gt $p 65535) -}}
{{- fail (printf "topology: agent %s's %s port %s is not from 1 to 65535" .id .what $port) -}}
{{- end -}}
{{- dict "host" $host "port" $p | toJson -}}
{{- end -}}

{{/*
geomesh.region reads the topology, checks that it describes this release's
region the way the chart runs it, and returns as JSON what the templates
need: the mesh name, the region's agent ids, the ports (the same for every
agent of the region), whether the control plane is embedded, whether the
API is served with TLS and whether reads need a token. Every failure names
the value to change.
*/}}
{{- define "geomesh.region" -}}
{{- $region := required "region is required: the topology region this release runs (--set region=us-east)" .Values.region -}}
{{- $text := required "topology is required: the whole topology file as a string (--set-file topology=mesh.yaml)" .Values.topology -}}
{{- $t := fromYaml $text -}}
{{- if hasKey $t "Error" -}}
{{- fail (printf "topology is not YAML: %s" (get $t "Error")) -}}
{{- end -}}
{{- if or (not (get $t "mesh")) (not (kindIs "string" (get $t "mesh"))) -}}
{{- fail "topology has no mesh name (mesh:); is it a geomesh topology file?" -}}
{{- end -}}
{{- $regions := get $t "regions" -}}
{{- if not (kindIs "slice" $regions) -}}
{{- fail "topology has no regions list (regions:); is it a geomesh topology file?" -}}
{{- end -}}
{{- $names := list -}}
{{- $r := dict -}}
{{- range $regions -}}
{{- if kindIs "map" . -}}
{{- $names = append $names (toString (get . "name")) -}}
{{- if eq (toString (get . "name")) $region -}}
{{- $r = . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $r -}}
{{- fail (printf "region %q is not in the topology; its regions are: %s" $region (join ", " $names)) -}}
{{- end -}}
{{- $fullname := include "geomesh.fullname" . -}}
{{- $replicas := int .Values.replicas -}}
{{- if lt $replicas 1 -}}
{{- fail (printf "replicas is %v; a region runs at least one agent" .Values.replicas) -}}
{{- end -}}
{{- $want := list -}}
{{- range $i := until $replicas -}}
{{- $want = append $want (printf "%s-%d" $fullname $i) -}}
{{- end -}}
{{- $agents := get $r "agents" -}}
{{- if not (kindIs "slice" $agents) -}}
{{- $agents = list -}}
{{- end -}}
{{- $ids := list -}}
{{- range $agents -}}
{{- if kindIs "map" . -}}
{{- $ids = append $ids (toString (get . "id")) -}}
{{- end -}}
{{- end -}}
{{- if ne (len $ids) $replicas -}}
{{- fail (printf "replicas is %d but region %s has %d agents in the topology (%s): set replicas to %d, or make the region's agents the pods %s" $replicas $region (len $ids) (join ", " $ids) (len $ids) (join ", " $want)) -}}
{{- end -}}
{{- if ne (join "," (sortAlpha $ids)) (join "," (sortAlpha $want)) -}}
{{- fail (printf "region %s's agent ids in the topology (%s) must be the pod names of release %s: %s" $region (join ", " $ids) $fullname (join ", " $want)) -}}
{{- end -}}
{{- $cp := get $t "control_plane" -}}
{{- $embedded := true -}}
{{- if kindIs "map" $cp -}}
{{- $embedded = and (not (get $cp "urls")) (ne (toString (get $cp "embedded")) "false") -}}
{{- end -}}
{{- $ports := dict -}}
{{- $whats := list "gossip" "api" -}}
{{- if $embedded -}}
{{- $whats = append $whats "control" -}}
{{- end -}}
{{- range $a := $agents -}}
{{- $id := toString (get $a "id") -}}
{{- range $w := $whats -}}
{{- $raw := toString (get $a $w) -}}
{{- if not (get $a $w) -}}
{{- fail (printf "topology: agent %s has no %s address" $id $w) -}}
{{- end -}}
{{- $addr := include "geomesh.addr" (dict "addr" $raw "id" $id "what" $w) | fromJson -}}
{{- $host := printf "%s.%s.%s.svc.%s" $id $fullname $.Release.Namespace $.Values.clusterDomain -}}
{{- if and $.Values.checkAgentHosts (ne $addr.host $host) -}}
{{- fail (printf "topology: agent %s's %s address %s must name its pod, %s:%d (or set checkAgentHosts=false for another name that resolves to the pod's IP)" $id $w $raw $host (int $addr.port)) -}}
{{- end -}}
{{- if and (hasKey $ports $w) (ne (int (get $ports $w)) (int $addr.port)) -}}
{{- fail (printf "topology: region %s's agents use different %s ports (%d and %d); the chart gives every pod one set of ports" $region $w (int (get $ports $w)) (int $addr.port)) -}}
{{- end -}}
{{- $_ := set $ports $w (int $addr.port) -}}
{{- end -}}
{{- end -}}
{{- if eq (len (uniq (values $ports))) (len $ports) | not -}}
{{- fail (printf "topology: region %s's gossip, api and control ports must differ (%v)" $region $ports) -}}
{{- end -}}
{{- $api := get $t "api" -}}
{{- if not (kindIs "map" $api) -}}
{{- $api = dict -}}
{{- end -}}
{{- $out := dict "mesh" (get $t "mesh") "region" $region "ids" $want "ports" $ports "embedded" $embedded -}}
{{- $_ := set $out "apiTLS" (not (empty (get $api "tls"))) -}}
{{- $_ := set $out "readToken" (not (empty (get $api "read_token"))) -}}
{{- $_ := set $out "regions" (len $names) -}}
{{- toJson $out -}}
{{- end -}}
