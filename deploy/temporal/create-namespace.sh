#!/bin/sh
# One-shot step run by the `temporal-create-namespace` service (temporalio/admin-tools) once the Temporal
# server is up. Adapted from temporalio/samples-server compose/scripts/create-namespace.sh, plus the
# Keyword search attributes Hookflow sets on every run (DESIGN.md section 5). Idempotent.
set -eu

NAMESPACE=${DEFAULT_NAMESPACE:-default}
TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
RETENTION=${NAMESPACE_RETENTION:-72h}
KEYWORD_SEARCH_ATTRIBUTES=${KEYWORD_SEARCH_ATTRIBUTES:-HookflowWorkflowId HookflowOwnerId}

TEMPORAL_HOST=$(echo "$TEMPORAL_ADDRESS" | cut -d: -f1)
TEMPORAL_PORT=$(echo "$TEMPORAL_ADDRESS" | cut -d: -f2)

echo 'Waiting for Temporal server port to be available...'
nc -z -w 10 "$TEMPORAL_HOST" "$TEMPORAL_PORT"
echo 'Temporal server port is available'

echo 'Waiting for Temporal server to be healthy...'
max_attempts=30
attempt=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge "$max_attempts" ]; then
    echo "Server did not become healthy after $max_attempts attempts"
    exit 1
  fi
  echo "Server not ready yet, waiting... (attempt $attempt/$max_attempts)"
  sleep 2
done

if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "Namespace '$NAMESPACE' already exists"
else
  echo "Creating namespace '$NAMESPACE' (retention $RETENTION)..."
  temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
fi

has_search_attribute() {
  temporal operator search-attribute list -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" 2>/dev/null | grep -qw "$1"
}

# A namespace created a moment ago can take a few seconds to reach every frontend cache, hence the retries.
for name in $KEYWORD_SEARCH_ATTRIBUTES; do
  attempt=0
  until has_search_attribute "$name"; do
    attempt=$((attempt + 1))
    if [ "$attempt" -gt "$max_attempts" ]; then
      echo "Could not register search attribute '$name' in namespace '$NAMESPACE'"
      exit 1
    fi
    echo "Registering search attribute '$name' (Keyword) in namespace '$NAMESPACE'..."
    temporal operator search-attribute create -n "$NAMESPACE" --name "$name" --type Keyword \
      --address "$TEMPORAL_ADDRESS" || true
    sleep 2
  done
  echo "Search attribute '$name' is registered"
done

echo "Namespace '$NAMESPACE' is ready"
