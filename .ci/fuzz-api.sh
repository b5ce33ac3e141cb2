#!/usr/bin/env bash
# OpenAPI-driven fuzzing of the control-plane API with schemathesis: spawns bucketgate on free
# ports with a temp data dir and an admin token, runs every documented operation with generated
# (valid and invalid) input as the admin, and fails on any 5xx answer or a server panic.
#
# Env: BUCKETGATE_BIN (default: target/release/bucketgate, built when missing),
#      FUZZ_MAX_EXAMPLES (default 50), FUZZ_MAX_TIME seconds (default 240).
#
# The run passes only when schemathesis exits 0, its JSON report says every documented
# operation was tested with generated cases, and it recorded no error of its own. The one
# exception is a known internal error of hypothesis under CPython 3.11 (below), retried once.
set -euo pipefail

# Pinned: the flags below and the JSON report's fields are this version's.
SCHEMATHESIS_VERSION=4.32.5
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=${BUCKETGATE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/bucketgate}
if [[ ! -x "$bin" ]]; then
    cargo build --release --locked
fi

if [[ $(st --version 2>/dev/null) != "st, version $SCHEMATHESIS_VERSION" ]]; then
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION"
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
    hash -r
fi
version=$(st --version)
[[ $version == "st, version $SCHEMATHESIS_VERSION" ]] ||
    { echo "fuzz: need schemathesis $SCHEMATHESIS_VERSION, have: $version" >&2; exit 1; }
echo "$version"

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

# CPython 3.11's "AST constructor recursion depth mismatch", raised inside hypothesis (seen
# here once in ~32k cases), is an error of the fuzzer, not of bucketgate: a run whose only
# errors carry that message, with no failed check, is retried once with a fresh seed. Anything
# else that is not a clean pass fails: failed checks, timeouts, connection errors, a schema that
# does not load, a CLI usage error, or a run that exercised nothing.
KNOWN_INTERNAL_ERROR='AST constructor recursion depth mismatch'

fuzz() {
    rm -f "$work/report.json"
    st run "$admin/api/openapi.json" \
        --url "$admin" \
        --header "Authorization: Bearer $token" \
        --checks not_a_server_error \
        --max-examples "${FUZZ_MAX_EXAMPLES:-50}" \
        --max-time "${FUZZ_MAX_TIME:-240}" \
        --workers 2 \
        --request-timeout 30 \
        --generation-database none \
        --report-json-path "$work/report.json" \
        --no-color 2>&1 | tee "$work/fuzz.out"
    return "${PIPESTATUS[0]}"
}

# Reads the JSON report: prints what it found and exits 0 (clean: everything tested, no
# failure, no error), 3 (only the known internal error), or 1 (anything else).
judge() { # EXIT_STATUS
    python3 - "$work/report.json" "$1" "$KNOWN_INTERNAL_ERROR" "$work/fuzz.out" <<'PY'
import json, sys
path, rc, known, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    with open(out_path, encoding="utf-8", errors="replace") as f:
        # The report can hold only the last line of an error (e.g. a KeyError raised while
        # schemathesis handled its AST error); the console output keeps the whole traceback.
        known_in_output = f.read().count(known)
except OSError:
    known_in_output = 0
try:
    with open(path) as f:
        r = json.load(f)
except (OSError, ValueError) as e:
    print(f"fuzz: no usable JSON report ({e}); schemathesis exited {rc}")
    sys.exit(1)
ops, cases = r.get("operations", {}), r.get("test_cases", {})
failures, errors = r.get("failures", []), r.get("errors", [])
selected, tested = ops.get("selected", 0), ops.get("tested", 0)
generated = cases.get("generated", 0)
print(f"fuzz: exit {rc}; operations tested {tested}/{selected} (errored {ops.get('errored', 0)}); "
      f"cases {generated}; failures {len(failures)}; errors {len(errors)}")
if rc == 0 and not failures and not errors and selected > 0 and tested == selected and generated > 0:
    sys.exit(0)
if rc != 0 and not failures and errors and (
    all(known in json.dumps(e) for e in errors) or known_in_output >= len(errors)
):
    sys.exit(3)
if selected == 0 or tested < selected or generated == 0:
    print("fuzz: not every documented operation was exercised")
sys.exit(1)
PY
}

status=1
for attempt in 1 2; do
    rc=0
    fuzz || rc=$?
    verdict=0
    judge "$rc" || verdict=$?
    if ((verdict == 0)); then
        status=0
        break
    fi
    if ((verdict == 3 && attempt == 1)); then
        echo "fuzz: schemathesis hit its known internal error ($KNOWN_INTERNAL_ERROR); retrying once" >&2
        continue
    fi
    echo "fuzz: FAILED (schemathesis exit $rc; see the output and the verdict above)" >&2
    break
done

if grep -q "panicked at" "$work/stderr"; then
    echo "bucketgate panicked during the fuzz run:" >&2
    grep -A5 "panicked at" "$work/stderr" >&2
    status=1
fi
kill -0 "$server_pid" 2>/dev/null || { echo "bucketgate died during the fuzz run" >&2; status=1; }
curl -fsS "$admin/health" >/dev/null || { echo "bucketgate stopped answering" >&2; status=1; }
exit "$status"
