#!/bin/sh
# dns-bootstrap.sh: a failover hook that points a DNS name at the Kafka
# cluster that takes writes now, for applications that cannot use a
# geomesh client library. They bootstrap from the name and move with it
# at their next bootstrap (docs/clients.md says what they get).
#
# In the topology, on every agent (only the agent that decides runs the
# hooks of a decision):
#
#   failover:
#     hooks:
#       - exec: [env, DNS_NAME=kafka.shop.example.com, ROUTE53_ZONE_ID=Z0123456789,
#                GEOMESH_AGENTS=http://127.0.0.1:8080, /usr/local/lib/geomesh/dns-bootstrap.sh]
#         timeout: 20s
#
# It reads the event from stdin (logged only), asks an agent which
# cluster takes writes (GET /v1/bootstrap, with the read token when one
# is given; the first agent that answers) and upserts the record: a CNAME to the first bootstrap host,
# an A record when that host is an IPv4 address. The port is not in DNS:
# every region's brokers must listen on the same port.
#
# Environment:
#   DNS_NAME            the record, required
#   DNS_TTL             its TTL in seconds; default 30
#   GEOMESH_AGENTS      the agents' APIs to ask, in order, separated by spaces;
#                       default http://127.0.0.1:8080
#   GEOMESH_TOKEN_FILE  a file holding the API's read token; default none
#   GEOMESH_CA_FILE     the CA of an agent served over HTTPS; default the system's
#   GEOMESH_HOME        ask for the region serving this home region's
#                       clients (active-active: /v1/bootstrap?home=); default none
#   ROUTE53_ZONE_ID     the hosted zone, for the default update (the aws CLI,
#                       with credentials from its usual chain)
#   DNS_UPDATE          instead of Route 53, a command run as
#                       $DNS_UPDATE NAME TYPE VALUE TTL (another DNS provider, tests)
#
# Exits non-zero, with the reason on stderr (the agent logs it with the
# hook's warning), when the agent does not answer or the update fails.
set -eu

: "${DNS_NAME:?DNS_NAME is required}"
ttl="${DNS_TTL:-30}"
agents="${GEOMESH_AGENTS:-http://127.0.0.1:8080}"

event="$(cat)"
echo "dns-bootstrap: event ${event}" >&2

query=""
if [ -n "${GEOMESH_HOME:-}" ]; then
	query="?home=${GEOMESH_HOME}"
fi
set -- -fsS --max-time 5
if [ -n "${GEOMESH_TOKEN_FILE:-}" ]; then
	set -- "$@" -H "Authorization: Bearer $(cat "$GEOMESH_TOKEN_FILE")"
fi
if [ -n "${GEOMESH_CA_FILE:-}" ]; then
	set -- "$@" --cacert "$GEOMESH_CA_FILE"
fi
answer=""
for agent in $agents; do
	if answer="$(curl "$@" "${agent}/v1/bootstrap${query}")"; then
		break
	fi
	echo "dns-bootstrap: ${agent}/v1/bootstrap did not answer" >&2
	answer=""
done
if [ -z "$answer" ]; then
	echo "dns-bootstrap: no agent answered: $agents" >&2
	exit 1
fi

# {"region": "eu-west", "bootstrap": ["kafka-1.eu-west.example.com:9093", ...], "epoch": 6},
# indented: on one line without blanks (no name or address holds one).
flat="$(printf '%s' "$answer" | tr -d ' \n\t\r')"
host="$(printf '%s' "$flat" | sed -n 's/.*"bootstrap":\["\([^"]*\):[0-9][0-9]*".*/\1/p')"
region="$(printf '%s' "$flat" | sed -n 's/.*"region":"\([^"]*\)".*/\1/p')"
if [ -z "$host" ]; then
	echo "dns-bootstrap: no bootstrap host in the agent's answer: $answer" >&2
	exit 1
fi
type=CNAME
if printf '%s' "$host" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'; then
	type=A
fi

if [ -n "${DNS_UPDATE:-}" ]; then
	# shellcheck disable=SC2086 # DNS_UPDATE is a command line
	$DNS_UPDATE "$DNS_NAME" "$type" "$host" "$ttl"
else
	: "${ROUTE53_ZONE_ID:?ROUTE53_ZONE_ID (or DNS_UPDATE) is required}"
	aws route53 change-resource-record-sets --hosted-zone-id "$ROUTE53_ZONE_ID" --change-batch \
		"{\"Comment\":\"geomesh: writes in ${region}\",\"Changes\":[{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{\"Name\":\"${DNS_NAME}\",\"Type\":\"${type}\",\"TTL\":${ttl},\"ResourceRecords\":[{\"Value\":\"${host}\"}]}}]}" >/dev/null
fi
echo "dns-bootstrap: ${DNS_NAME} ${type} ${host} (writes in ${region})" >&2
