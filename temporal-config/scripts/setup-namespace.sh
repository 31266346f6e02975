#!/bin/sh
# One-shot in temporalio/admin-tools, once the server answers: the namespace durasumi uses
# and its search attributes (workflows/search.py). It creates only what is missing, so it
# runs on every `docker compose up`; the api and workers start after it has succeeded.
#
#   TEMPORAL_ADDRESS    host:port of the frontend (the temporal CLI reads it)
#   NAMESPACE           namespace to create (the compose profile's, in profiles.toml)
#   NAMESPACE_RETENTION how long closed workflows are kept, e.g. 30d
#   SEARCH_ATTRIBUTES   space-separated Name=Type pairs
set -eu

: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${SEARCH_ATTRIBUTES:?}"
ATTEMPTS=${ATTEMPTS:-60}

retry() { # command...: until it succeeds, ATTEMPTS times, 2 s apart
    n=1
    until "$@"; do
        if [ "$n" -ge "$ATTEMPTS" ]; then
            echo "gave up after $n attempts: $*" >&2
            return 1
        fi
        n=$((n + 1))
        sleep 2
    done
}

quiet() { "$@" >/dev/null 2>&1; }

retry quiet temporal operator cluster health
echo "Temporal at $TEMPORAL_ADDRESS is serving"

if quiet temporal operator namespace describe --namespace "$NAMESPACE"; then
    echo "namespace $NAMESPACE exists"
else
    retry temporal operator namespace create --namespace "$NAMESPACE" \
        --retention "${NAMESPACE_RETENTION:-30d}"
fi
# A new namespace reaches every frontend's cache within seconds: wait until it is usable.
retry quiet temporal operator search-attribute list --namespace "$NAMESPACE"

existing=$(temporal operator search-attribute list --namespace "$NAMESPACE")
for pair in $SEARCH_ATTRIBUTES; do
    name=${pair%%=*}
    type=${pair#*=}
    if printf '%s\n' "$existing" | grep -qw -- "$name"; then
        echo "search attribute $name exists"
    else
        retry temporal operator search-attribute create --namespace "$NAMESPACE" \
            --name "$name" --type "$type"
    fi
done
echo "namespace $NAMESPACE is ready"
