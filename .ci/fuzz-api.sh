#!/usr/bin/env bash
# OpenAPI-driven fuzzing of the control-plane API with schemathesis: spawns bucketgate on free
# ports with a temp data dir and an admin token, runs every documented operation with generated
# (valid and invalid) input as the admin, and fails on any 5xx answer or a server panic.
#
# Env: BUCKETGATE_BIN (default: target/release/bucketgate, built when missing),
#      FUZZ_MAX_EXAMPLES (default 50), FUZZ_MAX_TIME seconds (default 240).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=${BUCKETGATE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/bucketgate}
if [[ ! -x "$bin" ]]; then
    cargo build --release --locked
fi

if ! command -v st >/dev/null 2>&1; then
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check schemathesis
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
    hash -r
fi
st --version

work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -n "${instance:-}" ]] && docker info >/dev/null 2>&1; then
        docker ps -aq --filter "label=io.bucketgate.instance=$instance" | xargs -r docker rm -f >/dev/null
        docker volume ls -q --filter "label=io.bucketgate.instance=$instance" | xargs -r docker volume rm -f >/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

token="fuzz-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# Container buckets the fuzzer creates run the locally built test image (no pull possible);
# they carry this run's instance label and are removed at the end.
instance="fuzz$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$work/fuzz.toml" <<EOF
[container]
profile = "s3s-fs-test"
instance = "$instance"
port_min = 47000
port_max = 47999
ready_timeout_secs = 20
EOF
if docker info >/dev/null 2>&1; then
    bash tests/docker/build-test-image.sh
else
    echo "fuzz: no Docker engine; container bucket creations will answer 503 and fail the run" >&2
fi
BUCKETGATE_ADMIN_TOKEN="$token" RUST_LOG=warn NO_COLOR=1 \
    "$bin" serve --config "$work/fuzz.toml" --data-dir "$work/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    >"$work/stdout" 2>"$work/stderr" </dev/null &
server_pid=$!

# Wait for the ready line (bounded), then take the admin address from it.
admin=
for _ in $(seq 1 300); do
    admin=$(sed -n 's/^bucketgate ready .*admin=\(http[^ ]*\).*/\1/p' "$work/stdout")
    [[ -n "$admin" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr" >&2; echo "bucketgate exited" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$admin" ]] || { echo "bucketgate did not become ready" >&2; exit 1; }
echo "fuzzing $admin/api"

# Exit status 1 from schemathesis means either a failed check or an error of its own (e.g.
# CPython 3.11's "AST constructor recursion depth mismatch" inside hypothesis, seen here once in
# ~32k cases). Only failed checks are failures of bucketgate; a run that ends in an internal error
# alone is retried once with a fresh seed.
fuzz() {
    st run "$admin/api/openapi.json" \
        --url "$admin" \
        --header "Authorization: Bearer $token" \
        --checks not_a_server_error \
        --max-examples "${FUZZ_MAX_EXAMPLES:-50}" \
        --max-time "${FUZZ_MAX_TIME:-240}" \
        --workers 2 \
        --request-timeout 30 \
        --generation-database none \
        --no-color 2>&1 | tee "$work/fuzz.out"
    return "${PIPESTATUS[0]}"
}
found_failures() {
    grep -qE '^=+ FAILURES =+|unique failure|[1-9][0-9]* failed' "$work/fuzz.out"
}

status=0
for attempt in 1 2; do
    rc=0
    fuzz || rc=$?
    if [[ $rc -eq 0 ]]; then
        break
    fi
    if found_failures; then
        status=1
        break
    fi
    echo "fuzz: schemathesis ended with an internal error and no failed check (attempt $attempt)" >&2
    if [[ $attempt -eq 2 ]]; then
        echo "fuzz: no server error was found in the cases it ran; see the log above" >&2
    fi
done

if grep -q "panicked at" "$work/stderr"; then
    echo "bucketgate panicked during the fuzz run:" >&2
    grep -A5 "panicked at" "$work/stderr" >&2
    status=1
fi
kill -0 "$server_pid" 2>/dev/null || { echo "bucketgate died during the fuzz run" >&2; status=1; }
curl -fsS "$admin/health" >/dev/null || { echo "bucketgate stopped answering" >&2; status=1; }
exit "$status"
