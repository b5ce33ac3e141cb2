#!/usr/bin/env bash
# shellcheck disable=SC2016 # JMESPath literals are `backticked` inside single quotes
# S3 conformance scenarios driven by the aws CLI (`aws s3` and `aws s3api`).
#
# Runs against any S3 endpoint given by the environment:
#   S3_ENDPOINT            e.g. http://127.0.0.1:9000 (unset: same as --spawn)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
#   AWS_DEFAULT_REGION     default us-east-1
#   S3_ADDRESSING_STYLE    path (default), virtual or auto
# With --spawn it starts a fresh bucketgate of its own (target/release/bucketgate,
# built with cargo when missing) on free ports with a temp data dir and generated
# root keys, and stops it at the end.
#
# Every scenario prints `ok - NAME` or `not ok - NAME: REASON`; the last line is
# `N passed, M failed`, and the exit code is non-zero when M > 0.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
readonly SCRIPT_DIR REPO_ROOT SCRIPT_PATH

usage() {
    cat <<'EOF'
usage: conformance/run.sh [--spawn] [--only REGEX] [--skip REGEX] [--keep] [--list]

  --spawn        start a fresh bucketgate (target/release/bucketgate, else cargo build --release)
  --only REGEX   run only scenarios whose name matches REGEX (bash =~)
  --skip REGEX   do not run scenarios whose name matches REGEX; each is listed as `skip - NAME`
  --keep         keep the temp dir (scenario logs, server log, data dir)
  --list         print scenario names and exit

Environment: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION,
S3_ADDRESSING_STYLE (path|virtual|auto, default path), BUCKETGATE_BIN (binary for --spawn),
CONFORMANCE_CMD_TIMEOUT (seconds per aws/curl call, default 300),
CONFORMANCE_READY_TIMEOUT (seconds to wait for the ready line, default 60),
CONFORMANCE_TOTAL_TIMEOUT (seconds for all scenarios; later ones are reported failed, default 1200),
CONFORMANCE_TRACE=1 (xtrace with timestamps into each scenario's log; use with --keep),
CONFORMANCE_BACKEND=container (with --spawn: every bucket gets an S3 server container of its
own, the locally built s3s-fs test image; needs Docker; the containers are removed at the end).
EOF
}

SPAWN=0
ONLY=""
SKIP=""
SKIPPED=0
KEEP=0
LIST=0
while (($#)); do
    case $1 in
        --spawn) SPAWN=1 ;;
        --only) ONLY=${2:?--only needs a regex}; shift ;;
        --skip) SKIP=${2:?--skip needs a regex}; shift ;;
        --keep) KEEP=1 ;;
        --list) LIST=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ -n ${S3_ENDPOINT:-} ]] || SPAWN=1

CMD_TIMEOUT=${CONFORMANCE_CMD_TIMEOUT:-300}
TOTAL_TIMEOUT=${CONFORMANCE_TOTAL_TIMEOUT:-1200}
READY_TIMEOUT=${CONFORMANCE_READY_TIMEOUT:-60}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

# The environment may point the CLI at a CA bundle; over plain HTTP that only breaks things.
unset AWS_CA_BUNDLE
# Keep the user's ~/.aws out of the picture: our own config file, credentials from env only.
unset AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=""
# One attempt per call: a conformance run should see server errors, not retry past them.
export AWS_MAX_ATTEMPTS=${AWS_MAX_ATTEMPTS:-1}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bucketgate-conformance.XXXXXX")
mkdir -p "$WORK/logs" "$WORK/scratch"
SERVER_PID=""
ADMIN_ENDPOINT=""

# ---------------------------------------------------------------------------------------------
# helpers available to scenarios

# The aws CLI against the endpoint under test, bounded in time (a stalled server costs 30 s a
# call, not botocore's default 60 s).
awsx() {
    timeout "$CMD_TIMEOUT" aws --endpoint-url "$S3_ENDPOINT" --cli-read-timeout 30 --cli-connect-timeout 10 "$@"
}

# curl against the endpoint under test, never through a proxy.
curlx() {
    timeout "$CMD_TIMEOUT" curl --noproxy '*' --silent --show-error "$@"
}

# Ends the current scenario as failed with REASON.
fail() {
    [[ -s ${REASON_FILE:-/dev/null} ]] || printf '%s\n' "$*" >"$REASON_FILE"
    exit 1
}

# Recorded by the ERR trap when an unexpected command fails in a scenario: the scenario's
# line that failed, its source, and the last line of output (usually the aws CLI's error).
on_err() {
    local rc=$1 i line="" src="" last=""
    [[ -s $REASON_FILE ]] && return 0
    for ((i = 1; i < ${#FUNCNAME[@]}; i++)); do
        if [[ ${FUNCNAME[i]} == sc_* ]]; then
            line=${BASH_LINENO[i - 1]}
            break
        fi
    done
    # BASH_LINENO names the last line of a command continued with backslashes: show it whole.
    [[ -z $line ]] || src=$(awk -v end="$line" '
        { text[NR] = $0 }
        NR == end {
            start = end
            while (start > 1 && text[start - 1] ~ /\\$/) start--
            out = ""
            for (i = start; i <= end; i++) { t = text[i]; sub(/^[ \t]+/, "", t); sub(/[ \t]*\\$/, "", t); out = out (out == "" ? "" : " ") t }
            print out; exit
        }' "$SCRIPT_PATH")
    last=$(tr '\r' '\n' <"$LOG_FILE" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n 1 || true)
    printf 'line %s: %s: exited %s%s\n' "$line" "$src" "$rc" "${last:+: $last}" >"$REASON_FILE"
}

# Shows a value on one line: newlines as \n, tabs as \t.
oneline() { local v=${1//$'\n'/\\n}; printf '%s' "${v//$'\t'/\\t}"; }

expect_eq() { # ACTUAL EXPECTED WHAT
    [[ $1 == "$2" ]] || fail "$3: expected '$(oneline "$2")', got '$(oneline "$1")'"
}

expect_contains() { # HAYSTACK NEEDLE WHAT
    [[ $1 == *"$2"* ]] || fail "$3: '$2' not in '$1'"
}

expect_same_file() { # EXPECTED ACTUAL WHAT
    [[ -f $2 ]] || fail "$3: $2 missing"
    cmp -s "$1" "$2" || fail "$3: content differs ($(wc -c <"$1") bytes expected, $(wc -c <"$2") got)"
}

# Runs an aws CLI command that must fail with the S3 error CODE (in its stderr).
expect_error() { # CODE aws-args...
    local code=$1 err="$PWD/.expect_error.err" rc=0
    shift
    awsx "$@" >/dev/null 2>"$err" || rc=$?
    if ((rc == 0)); then
        fail "aws $1 $2 succeeded, expected error $code"
    fi
    if ! grep -q -- "$code" "$err"; then
        fail "aws $1 $2: expected error $code, got: $(grep -v '^[[:space:]]*$' "$err" | tail -n 1)"
    fi
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }
md5() { md5sum "$1" | cut -d' ' -f1; }

# S3's ETag of a multipart object: md5 of the parts' binary md5s, then -PARTCOUNT.
multipart_etag() { # PART_FILE...
    local hex="" f
    for f in "$@"; do hex+=$(md5 "$f"); done
    # shellcheck disable=SC2059,SC2001 # the format is the \xHH escapes sed builds
    printf "$(sed 's/../\\x&/g' <<<"$hex")" | md5sum | cut -d' ' -f1 | tr -d '\n'
    printf -- '-%s\n' "$#"
}

# `--query ... --output text` lists as one item a line, sorted; empty for None/no items.
lines() { tr '\t' '\n' | grep -v -e '^None$' -e '^$' | LC_ALL=C sort || true; }

# Writes SIZE bytes of random data to FILE.
random_file() { head -c "$2" /dev/urandom >"$1"; }

# Keys listed under PREFIX in BUCKET, one a line, sorted.
list_keys() { # BUCKET PREFIX
    awsx s3api list-objects-v2 --bucket "$1" --prefix "$2" --query 'Contents[].Key' --output text | lines
}

# Creates an extra bucket for a scenario and registers it for clean-up.
new_bucket_name() { printf '%s-%s\n' "$BUCKET" "$1"; }

# ---------------------------------------------------------------------------------------------
# scenarios (each runs in its own subshell with set -e, in an empty scratch dir)

sc_mb() {
    awsx s3 mb "s3://$BUCKET"
    awsx s3api head-bucket --bucket "$BUCKET"
    local names
    names=$(awsx s3api list-buckets --query 'Buckets[].Name' --output text | lines)
    grep -qx -- "$BUCKET" <<<"$names" || fail "list-buckets does not show $BUCKET: $names"
}

sc_cp_small() {
    printf 'hello, bucketgate\n' >hello.txt
    : >empty.txt
    random_file bin.dat 1000
    mkdir down
    local f
    for f in hello.txt empty.txt bin.dat; do
        awsx s3 cp "$f" "s3://$BUCKET/cp/$f"
        awsx s3 cp "s3://$BUCKET/cp/$f" "down/$f"
        expect_same_file "$f" "down/$f" "round trip of $f"
    done
    # Keys that need URL encoding, both in the path and in the signature.
    printf 'odd key\n' >odd.txt
    local key='cp/dir with space/ünïcode+plus=eq&amp~tilde.txt'
    awsx s3 cp odd.txt "s3://$BUCKET/$key"
    awsx s3 cp "s3://$BUCKET/$key" down/odd.txt
    expect_same_file odd.txt down/odd.txt "round trip of key '$key'"
    local keys
    keys=$(list_keys "$BUCKET" "cp/dir with space/")
    expect_eq "$keys" "$key" "list of the odd key"
}

sc_cp_multipart() {
    # 40 MiB with an 8 MiB threshold and chunk size: the CLI uploads it in 5 parts.
    random_file big.bin $((40 * 1024 * 1024))
    awsx s3 cp big.bin "s3://$BUCKET/big/big.bin"
    local etag
    etag=$(awsx s3api head-object --bucket "$BUCKET" --key big/big.bin --query ETag --output text)
    [[ $etag == *-5\" ]] || fail "ETag $etag does not look like a 5-part multipart ETag (did multipart happen?)"
    split -b $((8 * 1024 * 1024)) -d big.bin part.
    expect_eq "$etag" "\"$(multipart_etag part.*)\"" "multipart ETag"
    awsx s3 cp "s3://$BUCKET/big/big.bin" big.down
    expect_eq "$(sha256 big.down)" "$(sha256 big.bin)" "sha256 of the downloaded object"
}

sc_sync() {
    mkdir -p tree/a/b/c tree/d tree/empty-dir-is-skipped
    printf 'root\n' >tree/root.txt
    printf 'in a\n' >tree/a/file1.txt
    random_file tree/a/b/blob.bin 70000
    printf 'deep\n' >tree/a/b/c/deep.txt
    : >tree/d/empty.txt
    random_file tree/d/medium.bin 300000
    awsx s3 sync tree "s3://$BUCKET/sync/"
    awsx s3 sync "s3://$BUCKET/sync/" back
    rmdir tree/empty-dir-is-skipped
    diff -r tree back || fail "tree synced back differs from the original (diff -r above)"
    # Nothing changed: a second sync must transfer nothing (sizes and LastModified agree).
    local again
    again=$(awsx s3 sync tree "s3://$BUCKET/sync/")
    [[ -z $again ]] || fail "second sync transferred again: $(head -n 1 <<<"$again")"
    # A changed file is uploaded, a deleted one removed with --delete.
    printf 'root changed\n' >tree/root.txt
    rm tree/d/empty.txt
    awsx s3 sync --delete tree "s3://$BUCKET/sync/"
    rm -rf back
    awsx s3 sync "s3://$BUCKET/sync/" back
    diff -r tree back || fail "tree differs after sync --delete (diff -r above)"
}

sc_empty_then_more() {
    # An empty PutObject (Expect: 100-continue, Content-Length: 0) followed by more uploads on the
    # same keep-alive connection: one request at a time, so the connection is reused.
    mkdir d
    : >d/a-empty
    printf 'b\n' >d/b
    printf 'c\n' >d/c
    cp "$AWS_CONFIG_FILE" one-at-a-time
    printf '    max_concurrent_requests = 1\n' >>one-at-a-time
    local t0=$SECONDS
    AWS_CONFIG_FILE=$PWD/one-at-a-time awsx s3 cp --recursive d "s3://$BUCKET/empty-then-more/"
    ((SECONDS - t0 < 15)) ||
        fail "uploading an empty file then 2 small ones took $((SECONDS - t0)) s (a stalled request: the client waited for its read timeout)"
    expect_eq "$(list_keys "$BUCKET" empty-then-more/ | tr '\n' ' ')" \
        "empty-then-more/a-empty empty-then-more/b empty-then-more/c " "keys uploaded"
}

sc_ls() {
    printf 'x\n' >x.txt
    awsx s3 cp x.txt "s3://$BUCKET/ls/top.txt"
    awsx s3 cp x.txt "s3://$BUCKET/ls/sub/inner.txt"
    awsx s3 cp x.txt "s3://$BUCKET/ls/sub/deeper/leaf.txt"
    local out
    out=$(awsx s3 ls)
    grep -qE "[[:space:]]$BUCKET\$" <<<"$out" || fail "aws s3 ls does not list $BUCKET"
    out=$(awsx s3 ls "s3://$BUCKET/ls/")
    grep -qE '^[[:space:]]*PRE sub/$' <<<"$out" || fail "aws s3 ls s3://$BUCKET/ls/ has no 'PRE sub/': $out"
    grep -qE '[[:space:]]2[[:space:]]+top\.txt$' <<<"$out" || fail "aws s3 ls s3://$BUCKET/ls/ has no 2-byte top.txt: $out"
    [[ $(wc -l <<<"$out") -eq 2 ]] || fail "aws s3 ls s3://$BUCKET/ls/ shows more than sub/ and top.txt: $out"
    out=$(awsx s3 ls --recursive "s3://$BUCKET/ls/")
    [[ $(grep -c . <<<"$out") -eq 3 ]] || fail "aws s3 ls --recursive should show 3 objects: $out"
    grep -qE ' ls/sub/deeper/leaf\.txt$' <<<"$out" || fail "recursive listing lacks ls/sub/deeper/leaf.txt: $out"
}

sc_presign() {
    printf 'presigned content\n' >p.txt
    awsx s3 cp p.txt "s3://$BUCKET/presign/p.txt"
    local url code
    url=$(awsx s3 presign "s3://$BUCKET/presign/p.txt" --expires-in 600)
    expect_contains "$url" "X-Amz-Signature=" "presigned URL (SigV4)"
    code=$(curlx -o got.txt -w '%{http_code}' "$url")
    expect_eq "$code" 200 "HTTP status of GET on the presigned URL"
    expect_same_file p.txt got.txt "body of GET on the presigned URL"
}

sc_presign_expired() {
    printf 'short-lived\n' >p.txt
    awsx s3 cp p.txt "s3://$BUCKET/presign/short.txt"
    local url code="" deadline
    url=$(awsx s3 presign "s3://$BUCKET/presign/short.txt" --expires-in 1)
    # The URL is valid for 1 s from its X-Amz-Date (whole seconds): poll until the server
    # refuses it, and give up 15 s later.
    deadline=$((SECONDS + 15))
    while ((SECONDS < deadline)); do
        code=$(curlx -o body.xml -w '%{http_code}' "$url")
        [[ $code == 200 ]] || break
        sleep 0.5
    done
    [[ $code != 200 ]] || fail "presigned URL with --expires-in 1 still served (200) 15 s later"
    expect_eq "$code" 403 "HTTP status of an expired presigned URL (body: $(head -c 300 body.xml))"
    grep -q '<Code>AccessDenied</Code>' body.xml || fail "expired presign: expected AccessDenied, body: $(head -c 300 body.xml)"
}

sc_presign_tampered() {
    printf 'guarded\n' >p.txt
    awsx s3 cp p.txt "s3://$BUCKET/presign/guarded.txt"
    local url bad code
    url=$(awsx s3 presign "s3://$BUCKET/presign/guarded.txt" --expires-in 600)
    # Point the same signature at another key.
    bad=${url/guarded.txt/p.txt}
    code=$(curlx -o body.xml -w '%{http_code}' "$bad")
    expect_eq "$code" 403 "HTTP status of a presigned URL whose key was changed"
    grep -q '<Code>SignatureDoesNotMatch</Code>' body.xml ||
        fail "tampered presign: expected SignatureDoesNotMatch, body: $(head -c 300 body.xml)"
}

sc_rm() {
    printf 'bye\n' >f.txt
    awsx s3 cp f.txt "s3://$BUCKET/rm/one.txt"
    awsx s3 cp f.txt "s3://$BUCKET/rm/keep.txt"
    awsx s3 rm "s3://$BUCKET/rm/one.txt"
    expect_error 404 s3api head-object --bucket "$BUCKET" --key rm/one.txt
    local i
    for i in 1 2 3; do awsx s3 cp f.txt "s3://$BUCKET/rm/dir/f$i.txt"; done
    awsx s3 cp f.txt "s3://$BUCKET/rm/dir/sub/f4.txt"
    awsx s3 rm --recursive "s3://$BUCKET/rm/dir/"
    expect_eq "$(list_keys "$BUCKET" rm/dir/)" "" "keys left under rm/dir/ after rm --recursive"
    expect_eq "$(list_keys "$BUCKET" rm/)" "rm/keep.txt" "keys under rm/ after the removals"
}

sc_rb() {
    local full empty
    full=$(new_bucket_name rb-full)
    empty=$(new_bucket_name rb-empty)
    awsx s3 mb "s3://$empty"
    awsx s3 rb "s3://$empty"
    expect_error 404 s3api head-bucket --bucket "$empty"
    awsx s3 mb "s3://$full"
    printf 'content\n' >f.txt
    awsx s3 cp f.txt "s3://$full/a.txt"
    awsx s3 cp f.txt "s3://$full/dir/b.txt"
    expect_error BucketNotEmpty s3 rb "s3://$full"
    awsx s3api head-object --bucket "$full" --key a.txt >/dev/null ||
        fail "the object in $full is gone after a refused rb"
    awsx s3 rb --force "s3://$full"
    expect_error 404 s3api head-bucket --bucket "$full"
    local names
    names=$(awsx s3api list-buckets --query 'Buckets[].Name' --output text | lines)
    if grep -qx -e "$full" -e "$empty" <<<"$names"; then
        fail "list-buckets still shows a removed bucket: $names"
    fi
}

sc_head_object() {
    printf 'with metadata\n' >m.txt
    awsx s3 cp m.txt "s3://$BUCKET/head/m.txt" --metadata color=blue,Owner-Team=storage \
        --content-type text/x-conformance
    local got
    got=$(awsx s3api head-object --bucket "$BUCKET" --key head/m.txt \
        --query '[ContentLength, ETag, ContentType, Metadata.color, Metadata."owner-team"]' --output text)
    expect_eq "$got" "$(wc -c <m.txt)	\"$(md5 m.txt)\"	text/x-conformance	blue	storage" \
        "head-object ContentLength, ETag, ContentType, metadata color and owner-team"
    got=$(awsx s3api head-object --bucket "$BUCKET" --key head/m.txt --query 'LastModified' --output text)
    if [[ $got == None ]] || ! date -d "$got" >/dev/null 2>&1; then
        fail "head-object LastModified is not a date: '$got'"
    fi
    expect_error 404 s3api head-object --bucket "$BUCKET" --key head/missing.txt
}

sc_list_v2_delimiter() {
    printf 'l\n' >l.txt
    local k
    for k in a/1 a/2 a/b/3 a/b/c/4 c/5 top; do awsx s3 cp l.txt "s3://$BUCKET/list/$k"; done
    local got
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix list/ --delimiter / \
        --query 'CommonPrefixes[].Prefix' --output text | lines)
    expect_eq "$got" $'list/a/\nlist/c/' "common prefixes for prefix list/ delimiter /"
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix list/ --delimiter / \
        --query 'Contents[].Key' --output text | lines)
    expect_eq "$got" "list/top" "keys for prefix list/ delimiter /"
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix list/a/ --delimiter / \
        --query '[Contents[].Key, CommonPrefixes[].Prefix]' --output text | lines)
    expect_eq "$got" $'list/a/1\nlist/a/2\nlist/a/b/' "keys and prefixes for prefix list/a/ delimiter /"
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix list/a/ --query 'Contents[].Key' --output text | lines)
    expect_eq "$got" $'list/a/1\nlist/a/2\nlist/a/b/3\nlist/a/b/c/4' "keys for prefix list/a/ without delimiter"
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix list/ --delimiter / --no-paginate \
        --query 'KeyCount' --output text)
    expect_eq "$got" 3 "KeyCount for prefix list/ delimiter / (1 key + 2 common prefixes)"
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix list/nothing/ --no-paginate \
        --query '[KeyCount, IsTruncated, length(Contents || `[]`)]' --output text)
    expect_eq "$got" $'0\tFalse\t0' "KeyCount, IsTruncated and Contents for a prefix with no keys"
}

sc_list_v2_pagination() {
    printf 'p\n' >p.txt
    local i
    for i in 1 2 3 4 5; do awsx s3 cp p.txt "s3://$BUCKET/page/k$i"; done
    local got token
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix page/ --max-keys 2 --no-paginate \
        --query '[IsTruncated, KeyCount, join(`,`, Contents[].Key)]' --output text)
    expect_eq "$got" $'True\t2\tpage/k1,page/k2' "first page of 2 (IsTruncated, KeyCount, keys)"
    token=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix page/ --max-keys 2 --no-paginate \
        --query NextContinuationToken --output text)
    [[ -n $token && $token != None ]] || fail "no NextContinuationToken on a truncated page"
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix page/ --max-keys 2 --no-paginate \
        --continuation-token "$token" --query 'join(`,`, Contents[].Key)' --output text)
    expect_eq "$got" "page/k3,page/k4" "second page of 2"
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix page/ --start-after page/k3 --no-paginate \
        --query 'join(`,`, Contents[].Key)' --output text)
    expect_eq "$got" "page/k4,page/k5" "keys with --start-after page/k3"
    # The CLI's own paginator walks every page.
    got=$(awsx s3api list-objects-v2 --bucket "$BUCKET" --prefix page/ --page-size 2 \
        --query 'Contents[].Key' --output text | lines | tr '\n' ,)
    expect_eq "$got" "page/k1,page/k2,page/k3,page/k4,page/k5," "all keys through pages of 2"
}

sc_put_object_content_type() {
    printf '{"json": true}\n' >doc.json
    awsx s3api put-object --bucket "$BUCKET" --key types/doc.json --body doc.json \
        --content-type 'application/json; charset=utf-8' --cache-control 'max-age=60' >/dev/null
    local got
    got=$(awsx s3api get-object --bucket "$BUCKET" --key types/doc.json got.json \
        --query '[ContentType, CacheControl, ContentLength]' --output text)
    expect_eq "$got" "application/json; charset=utf-8	max-age=60	$(wc -c <doc.json)" \
        "get-object ContentType, CacheControl, ContentLength"
    expect_same_file doc.json got.json "get-object body"
    # Over plain HTTP, curl sees the same header.
    got=$(awsx s3 presign "s3://$BUCKET/types/doc.json")
    got=$(curlx -o /dev/null -D - "$got" | tr -d '\r' | grep -i '^content-type:' || true)
    expect_eq "${got,,}" "content-type: application/json; charset=utf-8" "Content-Type header of a presigned GET"
}

sc_copy_object() {
    printf 'copy me\n' >src.txt
    awsx s3api put-object --bucket "$BUCKET" --key copy/src.txt --body src.txt \
        --content-type text/x-src --metadata origin=source >/dev/null
    awsx s3api copy-object --bucket "$BUCKET" --key copy/dst.txt --copy-source "$BUCKET/copy/src.txt" >/dev/null
    local got
    got=$(awsx s3api get-object --bucket "$BUCKET" --key copy/dst.txt dst.txt \
        --query '[ETag, ContentType, Metadata.origin]' --output text)
    expect_eq "$got" "\"$(md5 src.txt)\"	text/x-src	source" "copy (metadata COPY): ETag, ContentType, metadata"
    expect_same_file src.txt dst.txt "copied body"
    awsx s3api copy-object --bucket "$BUCKET" --key copy/replaced.txt --copy-source "$BUCKET/copy/src.txt" \
        --metadata-directive REPLACE --content-type text/x-new --metadata origin=replaced >/dev/null
    got=$(awsx s3api head-object --bucket "$BUCKET" --key copy/replaced.txt \
        --query '[ContentType, Metadata.origin]' --output text)
    expect_eq "$got" "text/x-new	replaced" "copy (metadata REPLACE): ContentType, metadata"
    # Server-side copy through the high-level command.
    awsx s3 cp "s3://$BUCKET/copy/src.txt" "s3://$BUCKET/copy/by-cp.txt"
    awsx s3 cp "s3://$BUCKET/copy/by-cp.txt" by-cp.txt
    expect_same_file src.txt by-cp.txt "body copied by aws s3 cp s3:// s3://"
    expect_error NoSuchKey s3api copy-object --bucket "$BUCKET" --key copy/x --copy-source "$BUCKET/copy/missing"
}

sc_delete_objects() {
    printf 'd\n' >d.txt
    local k
    for k in one two three keep; do awsx s3 cp d.txt "s3://$BUCKET/del/$k"; done
    local got
    got=$(awsx s3api delete-objects --bucket "$BUCKET" \
        --delete '{"Objects":[{"Key":"del/one"},{"Key":"del/two"},{"Key":"del/three"},{"Key":"del/never-existed"}]}' \
        --query 'Deleted[].Key' --output text | lines)
    expect_eq "$got" $'del/never-existed\ndel/one\ndel/three\ndel/two' "Deleted keys (a missing key counts as deleted)"
    got=$(awsx s3api delete-objects --bucket "$BUCKET" \
        --delete '{"Objects":[{"Key":"del/keep-not"}],"Quiet":true}' --query 'Errors' --output text | lines)
    expect_eq "$got" "" "Errors of a quiet delete-objects"
    expect_eq "$(list_keys "$BUCKET" del/)" "del/keep" "keys left under del/"
}

sc_multipart_s3api() {
    random_file p1 $((5 * 1024 * 1024))
    random_file p2 $((5 * 1024 * 1024 + 17))
    random_file p3 12345
    local uid e1 e2 e3 got
    uid=$(awsx s3api create-multipart-upload --bucket "$BUCKET" --key mpu/obj.bin \
        --content-type application/x-parts --metadata kind=multipart --query UploadId --output text)
    [[ -n $uid && $uid != None ]] || fail "create-multipart-upload returned no UploadId"
    # Parts may arrive in any order.
    e2=$(awsx s3api upload-part --bucket "$BUCKET" --key mpu/obj.bin --upload-id "$uid" --part-number 2 \
        --body p2 --query ETag --output text)
    e1=$(awsx s3api upload-part --bucket "$BUCKET" --key mpu/obj.bin --upload-id "$uid" --part-number 1 \
        --body p1 --query ETag --output text)
    e3=$(awsx s3api upload-part --bucket "$BUCKET" --key mpu/obj.bin --upload-id "$uid" --part-number 3 \
        --body p3 --query ETag --output text)
    expect_eq "$e1" "\"$(md5 p1)\"" "ETag of part 1"
    expect_eq "$e2" "\"$(md5 p2)\"" "ETag of part 2"
    got=$(awsx s3api list-parts --bucket "$BUCKET" --key mpu/obj.bin --upload-id "$uid" \
        --query 'Parts[].[PartNumber, Size, ETag]' --output text)
    expect_eq "$got" "1	$((5 * 1024 * 1024))	$e1
2	$((5 * 1024 * 1024 + 17))	$e2
3	12345	$e3" "list-parts (number, size, ETag)"
    expect_error 404 s3api head-object --bucket "$BUCKET" --key mpu/obj.bin
    printf '{"Parts":[{"PartNumber":1,"ETag":"%s"},{"PartNumber":2,"ETag":"%s"},{"PartNumber":3,"ETag":"%s"}]}\n' \
        "${e1//\"/\\\"}" "${e2//\"/\\\"}" "${e3//\"/\\\"}" >parts.json
    got=$(awsx s3api complete-multipart-upload --bucket "$BUCKET" --key mpu/obj.bin --upload-id "$uid" \
        --multipart-upload file://parts.json --query ETag --output text)
    expect_eq "$got" "\"$(multipart_etag p1 p2 p3)\"" "ETag returned by complete-multipart-upload"
    cat p1 p2 p3 >whole
    got=$(awsx s3api get-object --bucket "$BUCKET" --key mpu/obj.bin down \
        --query '[ContentLength, ContentType, Metadata.kind]' --output text)
    expect_eq "$got" "$(wc -c <whole)	application/x-parts	multipart" "get-object ContentLength, ContentType, metadata"
    expect_eq "$(sha256 down)" "$(sha256 whole)" "sha256 of the completed object"
    expect_error NoSuchUpload s3api list-parts --bucket "$BUCKET" --key mpu/obj.bin --upload-id "$uid"
}

sc_multipart_abort() {
    random_file p1 $((5 * 1024 * 1024))
    local uid got
    uid=$(awsx s3api create-multipart-upload --bucket "$BUCKET" --key mpu/aborted.bin --query UploadId --output text)
    awsx s3api upload-part --bucket "$BUCKET" --key mpu/aborted.bin --upload-id "$uid" --part-number 1 \
        --body p1 >/dev/null
    awsx s3api abort-multipart-upload --bucket "$BUCKET" --key mpu/aborted.bin --upload-id "$uid"
    expect_error NoSuchUpload s3api list-parts --bucket "$BUCKET" --key mpu/aborted.bin --upload-id "$uid"
    expect_error NoSuchUpload s3api upload-part --bucket "$BUCKET" --key mpu/aborted.bin --upload-id "$uid" \
        --part-number 2 --body p1
    expect_error 404 s3api head-object --bucket "$BUCKET" --key mpu/aborted.bin
}

sc_list_multipart_uploads() {
    local u1 u2 got
    u1=$(awsx s3api create-multipart-upload --bucket "$BUCKET" --key mpl/one --query UploadId --output text)
    u2=$(awsx s3api create-multipart-upload --bucket "$BUCKET" --key mpl/two --query UploadId --output text)
    got=$(awsx s3api list-multipart-uploads --bucket "$BUCKET" --prefix mpl/ \
        --query 'Uploads[].[Key, UploadId]' --output text)
    expect_eq "$got" "mpl/one	$u1
mpl/two	$u2" "list-multipart-uploads (key, upload id)"
    awsx s3api abort-multipart-upload --bucket "$BUCKET" --key mpl/one --upload-id "$u1"
    got=$(awsx s3api list-multipart-uploads --bucket "$BUCKET" --prefix mpl/ --query 'Uploads[].Key' --output text | lines)
    expect_eq "$got" "mpl/two" "list-multipart-uploads after aborting mpl/one"
    printf 'small\n' >small
    awsx s3api upload-part --bucket "$BUCKET" --key mpl/two --upload-id "$u2" --part-number 1 --body small >/dev/null
    got=$(awsx s3api upload-part --bucket "$BUCKET" --key mpl/two --upload-id "$u2" --part-number 1 --body small \
        --query ETag --output text)
    printf '{"Parts":[{"PartNumber":1,"ETag":"%s"}]}\n' "${got//\"/\\\"}" >parts.json
    awsx s3api complete-multipart-upload --bucket "$BUCKET" --key mpl/two --upload-id "$u2" \
        --multipart-upload file://parts.json >/dev/null
    got=$(awsx s3api list-multipart-uploads --bucket "$BUCKET" --prefix mpl/ --query 'Uploads[].Key' --output text | lines)
    expect_eq "$got" "" "list-multipart-uploads after complete"
}

sc_get_range() {
    seq 1000 1099 | tr -d '\n' >digits # 400 bytes
    awsx s3 cp digits "s3://$BUCKET/range/digits"
    local got
    got=$(awsx s3api get-object --bucket "$BUCKET" --key range/digits --range bytes=10-19 part \
        --query '[ContentRange, ContentLength]' --output text)
    expect_eq "$got" "bytes 10-19/400	10" "bytes=10-19: ContentRange, ContentLength"
    expect_eq "$(cat part)" "$(dd if=digits bs=1 skip=10 count=10 status=none)" "bytes=10-19 body"
    got=$(awsx s3api get-object --bucket "$BUCKET" --key range/digits --range bytes=-7 part \
        --query ContentRange --output text)
    expect_eq "$got" "bytes 393-399/400" "bytes=-7: ContentRange"
    expect_eq "$(cat part)" "$(dd if=digits bs=1 skip=393 status=none)" "bytes=-7 body"
    got=$(awsx s3api get-object --bucket "$BUCKET" --key range/digits --range bytes=390- part \
        --query ContentRange --output text)
    expect_eq "$got" "bytes 390-399/400" "bytes=390-: ContentRange"
    expect_eq "$(cat part)" "$(dd if=digits bs=1 skip=390 status=none)" "bytes=390- body"
    # A range past the end is clamped to the object; one that starts past it is 416.
    got=$(awsx s3api get-object --bucket "$BUCKET" --key range/digits --range bytes=395-5000 part \
        --query ContentRange --output text)
    expect_eq "$got" "bytes 395-399/400" "bytes=395-5000: ContentRange"
    expect_error InvalidRange s3api get-object --bucket "$BUCKET" --key range/digits --range bytes=400-500 part
}

sc_errors() {
    expect_error NoSuchKey s3api get-object --bucket "$BUCKET" --key errors/missing out
    expect_error NoSuchBucket s3api list-objects-v2 --bucket "$BUCKET-does-not-exist"
    expect_error NoSuchBucket s3api put-object --bucket "$BUCKET-does-not-exist" --key k
    expect_error 404 s3api head-bucket --bucket "$BUCKET-does-not-exist"
}

sc_wrong_secret() {
    printf 'secret\n' >s.txt
    local wrong="${AWS_SECRET_ACCESS_KEY}x"
    AWS_SECRET_ACCESS_KEY=$wrong expect_error SignatureDoesNotMatch s3api list-objects-v2 --bucket "$BUCKET"
    AWS_SECRET_ACCESS_KEY=$wrong expect_error SignatureDoesNotMatch \
        s3api put-object --bucket "$BUCKET" --key auth/x --body s.txt
    AWS_ACCESS_KEY_ID=AKIAUNKNOWNKEY000000 expect_error InvalidAccessKeyId s3api list-buckets
    expect_error AccessDenied s3api list-objects-v2 --bucket "$BUCKET" --no-sign-request
    expect_error AccessDenied s3api put-object --bucket "$BUCKET" --key auth/anon --body s.txt --no-sign-request
    expect_error 404 s3api head-object --bucket "$BUCKET" --key auth/x
}

sc_admin_health() {
    local code
    code=$(curlx -o /dev/null -w '%{http_code}' "$ADMIN_ENDPOINT/health")
    expect_eq "$code" 200 "HTTP status of GET $ADMIN_ENDPOINT/health"
}

sc_versioning() {
    local vb="$BUCKET-versions" v1 v2 got marker
    awsx s3api create-bucket --bucket "$vb" >/dev/null
    awsx s3api put-bucket-versioning --bucket "$vb" --versioning-configuration Status=Enabled
    got=$(awsx s3api get-bucket-versioning --bucket "$vb" --query Status --output text)
    expect_eq "$got" "Enabled" "get-bucket-versioning"
    printf 'one\n' >one.txt
    printf 'two\n' >two.txt
    v1=$(awsx s3api put-object --bucket "$vb" --key doc.txt --body one.txt --query VersionId --output text)
    v2=$(awsx s3api put-object --bucket "$vb" --key doc.txt --body two.txt --query VersionId --output text)
    [[ -n $v1 && $v1 != None && $v1 != "$v2" ]] || fail "two puts gave version ids '$v1' and '$v2'"
    got=$(awsx s3api list-object-versions --bucket "$vb" --query 'length(Versions)' --output text)
    expect_eq "$got" "2" "list-object-versions after two puts"
    awsx s3api get-object --bucket "$vb" --key doc.txt --version-id "$v1" old.txt >/dev/null
    expect_same_file one.txt old.txt "the old version read by id"
    marker=$(awsx s3api delete-object --bucket "$vb" --key doc.txt --query VersionId --output text)
    got=$(awsx s3api list-object-versions --bucket "$vb" \
        --query 'DeleteMarkers[?IsLatest].VersionId | [0]' --output text)
    expect_eq "$got" "$marker" "the delete marker is the latest version"
    expect_error NoSuchKey s3api get-object --bucket "$vb" --key doc.txt gone.txt
    # Deleting the marker restores the object.
    awsx s3api delete-object --bucket "$vb" --key doc.txt --version-id "$marker" >/dev/null
    awsx s3api get-object --bucket "$vb" --key doc.txt back.txt >/dev/null
    expect_same_file two.txt back.txt "the object restored by deleting its marker"
    expect_error BucketNotEmpty s3api delete-bucket --bucket "$vb"
    for v in "$v1" "$v2"; do
        awsx s3api delete-object --bucket "$vb" --key doc.txt --version-id "$v" >/dev/null
    done
    awsx s3api delete-bucket --bucket "$vb"
}

# name|function|needs (spawn: only against a bucketgate this script started)
SCENARIOS=(
    "admin /health|sc_admin_health|spawn"
    "mb|sc_mb|"
    "cp small files up and down|sc_cp_small|"
    "cp 40 MiB multipart up and down|sc_cp_multipart|"
    "sync tree up and down|sc_sync|"
    "empty object then more uploads on one connection|sc_empty_then_more|"
    "ls buckets and prefixes|sc_ls|"
    "presign GET|sc_presign|"
    "presign expired|sc_presign_expired|"
    "presign tampered|sc_presign_tampered|"
    "rm single and recursive|sc_rm|"
    "rb non-empty fails, --force works|sc_rb|"
    "head-object|sc_head_object|"
    "list-objects-v2 prefix and delimiter|sc_list_v2_delimiter|"
    "list-objects-v2 pagination|sc_list_v2_pagination|"
    "put-object content-type|sc_put_object_content_type|"
    "copy-object|sc_copy_object|"
    "delete-objects|sc_delete_objects|"
    "multipart by s3api|sc_multipart_s3api|"
    "multipart abort|sc_multipart_abort|"
    "list-multipart-uploads|sc_list_multipart_uploads|"
    "get-object range|sc_get_range|"
    "errors NoSuchKey NoSuchBucket|sc_errors|"
    "wrong credentials|sc_wrong_secret|"
    "versioning put, list, get old, delete marker, restore|sc_versioning|"
)

if ((LIST)); then
    for s in "${SCENARIOS[@]}"; do printf '%s\n' "${s%%|*}"; done
    rm -rf "$WORK"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# runner

PASSED=0
FAILED=0
FAILED_NAMES=()
TIMES=()

report() { # NAME RC REASON LOG
    if (($2 == 0)); then
        PASSED=$((PASSED + 1))
        printf 'ok - %s\n' "$1"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$1")
        printf 'not ok - %s: %s\n' "$1" "${3:-exited $2}"
        if [[ -n ${4:-} && -s $4 ]]; then
            tr '\r' '\n' <"$4" | grep -v '^[[:space:]]*$' | tail -n 12 | sed 's/^/#   /'
        fi
    fi
}

run_scenario() { # NAME FUNCTION
    local name=$1 fn=$2 rc=0 t0=$SECONDS
    local log="$WORK/logs/$fn.log" reason_file="$WORK/logs/$fn.reason"
    mkdir -p "$WORK/scratch/$fn"
    : >"$reason_file"
    set +e
    (
        # inherit_errexit: a command substitution stops at its first failing command, like the
        # scenario itself (bash otherwise runs `$(…)` without -e).
        set -Eeuo pipefail
        shopt -s inherit_errexit
        LOG_FILE=$log
        REASON_FILE=$reason_file
        trap 'on_err $?' ERR
        if [[ -n ${CONFORMANCE_TRACE:-} ]]; then
            PS4='+ $(date +%T.%3N) ${FUNCNAME[0]:-}:${LINENO}: '
            set -x
        fi
        cd "$WORK/scratch/$fn"
        "$fn"
    ) >"$log" 2>&1 </dev/null
    rc=$?
    set -e
    # A failure inside `$(…)` (a listing whose aws call failed, a `fail` in a helper) only ends
    # that substitution, whose status an enclosing command may ignore (`expect_eq "$(list_keys …)" ""`
    # would compare an empty list and pass); the ERR trap and `fail` record a reason for it,
    # and a recorded reason fails the scenario whatever its exit status.
    if ((rc == 0)) && [[ -s $reason_file ]]; then
        rc=1
    fi
    # Large scratch files are not needed once a scenario is over.
    rm -rf "${WORK:?}/scratch/$fn"
    TIMES+=("${fn#sc_} $((SECONDS - t0))s")
    report "$name" "$rc" "$(head -n 1 "$reason_file")" "$log"
}

# ---------------------------------------------------------------------------------------------
# the server under test

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

find_or_build_server() {
    local bin=${BUCKETGATE_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/bucketgate}
    if [[ -z ${BUCKETGATE_BIN:-} && ! -x $bin ]]; then
        echo "# building bucketgate (cargo build --release)" >&2
        local locked=()
        [[ -f $REPO_ROOT/Cargo.lock ]] && locked=(--locked)
        (cd "$REPO_ROOT" && cargo build --release "${locked[@]}" >&2)
        bin=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/bucketgate
    fi
    printf '%s\n' "$bin"
}

start_server() {
    local bin line="" deadline
    bin=$(find_or_build_server) || true
    if [[ ! -x $bin ]]; then
        START_PROBLEM="no bucketgate binary at '$bin' (did cargo build --release fail?)"
        return 1
    fi
    AWS_ACCESS_KEY_ID="BG$(random_hex 9 | tr '[:lower:]' '[:upper:]')"
    AWS_SECRET_ACCESS_KEY=$(random_hex 20)
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN
    mkdir -p "$WORK/data"
    : >"$WORK/server.stdout"
    local backend_args=()
    if [[ ${CONFORMANCE_BACKEND:-embedded} == container ]]; then
        CONTAINER_INSTANCE="conf$(random_hex 6)"
        printf '[container]\nprofile = "s3s-fs-test"\ninstance = "%s"\nport_min = 48000\nport_max = 48999\n' \
            "$CONTAINER_INSTANCE" >"$WORK/backend.toml"
        backend_args=(--config "$WORK/backend.toml" --default-backend container)
        echo "# backend: container (s3s-fs-test profile, instance $CONTAINER_INSTANCE)"
    fi
    BUCKETGATE_ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID BUCKETGATE_ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
        "$bin" serve "${backend_args[@]}" --data-dir "$WORK/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --region "$AWS_DEFAULT_REGION" \
        >"$WORK/server.stdout" 2>"$WORK/server.log" </dev/null &
    SERVER_PID=$!
    deadline=$((SECONDS + READY_TIMEOUT))
    local exited=""
    while ((SECONDS < deadline)); do
        line=$(grep -m1 '^bucketgate ready ' "$WORK/server.stdout" || true)
        [[ -z $line ]] || break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            local rc=0
            wait "$SERVER_PID" || rc=$?
            SERVER_PID=""
            exited="exited with status $rc before printing the ready line"
            break
        fi
        sleep 0.1
    done
    if [[ $line =~ ^bucketgate\ ready\ s3=([^ ]+)\ admin=([^ ]+)$ ]]; then
        S3_ENDPOINT=${BASH_REMATCH[1]}
        ADMIN_ENDPOINT=${BASH_REMATCH[2]}
        export S3_ENDPOINT
        export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
        echo "# bucketgate $bin pid $SERVER_PID: s3=$S3_ENDPOINT admin=$ADMIN_ENDPOINT"
        return 0
    fi
    if [[ -n $line ]]; then
        START_PROBLEM="unexpected ready line: $line"
    else
        START_PROBLEM=${exited:-"no ready line within ${READY_TIMEOUT} s"}
    fi
    echo "# server stdout: $(head -c 300 "$WORK/server.stdout")"
    echo "# last lines of the server log:"
    tail -n 40 "$WORK/server.log" | sed 's/^/#   /'
    return 1
}

# SIGTERM, then wait (bounded) for a clean exit; STOP_PROBLEM says what went wrong, if anything.
STOP_PROBLEM=""
stop_server() {
    local deadline rc=0
    [[ -n $SERVER_PID ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    deadline=$((SECONDS + 40))
    while kill -0 "$SERVER_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        STOP_PROBLEM="still running 40 s after SIGTERM (killed)"
        return 1
    fi
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    if ((rc != 0)); then
        STOP_PROBLEM="exited with status $rc after SIGTERM"
        return 1
    fi
}

cleanup() {
    local rc=$?
    if [[ -n $SERVER_PID ]]; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    elif ((!SPAWN)) && [[ -n ${BUCKET:-} ]]; then
        # A shared endpoint: leave nothing behind (best effort).
        local b
        for b in "$BUCKET" "$BUCKET-rb-full" "$BUCKET-rb-empty"; do
            timeout 120 aws --endpoint-url "$S3_ENDPOINT" s3 rb --force "s3://$b" >/dev/null 2>&1 || true
        done
    fi
    if [[ -n ${CONTAINER_INSTANCE:-} ]]; then
        docker ps -aq --filter "label=io.bucketgate.instance=$CONTAINER_INSTANCE" | xargs -r docker rm -f >/dev/null 2>&1 || true
        docker volume ls -q --filter "label=io.bucketgate.instance=$CONTAINER_INSTANCE" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
    fi
    if ((KEEP)); then
        echo "# kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# main

command -v aws >/dev/null || { echo "run.sh: the aws CLI is not installed (pip install awscli)" >&2; exit 2; }
command -v curl >/dev/null || { echo "run.sh: curl is not installed" >&2; exit 2; }

# Our own CLI config: path-style addressing, SigV4, and an 8 MiB multipart threshold and
# chunk size so that the 40 MiB scenario really goes through multipart upload.
export AWS_CONFIG_FILE="$WORK/aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$WORK/aws-credentials"
: >"$AWS_SHARED_CREDENTIALS_FILE"
cat >"$AWS_CONFIG_FILE" <<EOF
[default]
region = $AWS_DEFAULT_REGION
s3 =
    addressing_style = ${S3_ADDRESSING_STYLE:-path}
    signature_version = s3v4
    multipart_threshold = 8MB
    multipart_chunksize = 8MB
EOF

echo "# $(aws --version 2>&1)"
if ((SPAWN)); then
    START_PROBLEM=""
    if ! start_server; then
        report "bucketgate starts and prints its ready line" 1 "$START_PROBLEM"
        echo "$PASSED passed, $FAILED failed"
        exit 1
    fi
else
    : "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID (or use --spawn)}"
    : "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY (or use --spawn)}"
    echo "# endpoint $S3_ENDPOINT"
fi

BUCKET="conformance-$(date +%s)-$(random_hex 3)"
export BUCKET S3_ENDPOINT ADMIN_ENDPOINT
echo "# bucket $BUCKET"

started=$SECONDS
bucket_checked=0
selected=0
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name fn needs <<<"$s"
    [[ -z $ONLY || $name =~ $ONLY ]] || continue
    [[ $needs != spawn ]] || ((SPAWN)) || continue
    selected=$((selected + 1))
    if [[ -n $SKIP && $name =~ $SKIP ]]; then
        echo "skip - $name (--skip)"
        SKIPPED=$((SKIPPED + 1))
        continue
    fi
    if ((SECONDS - started > TOTAL_TIMEOUT)); then
        report "$name" 1 "not run: the scenarios took more than ${TOTAL_TIMEOUT} s (CONFORMANCE_TOTAL_TIMEOUT)"
        continue
    fi
    # The scenarios after mb work in its bucket: make it when mb failed or was not selected.
    if [[ $fn != sc_mb && $fn != sc_admin_health ]] && ((!bucket_checked)); then
        bucket_checked=1
        if ! awsx s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
            awsx s3api create-bucket --bucket "$BUCKET" >/dev/null 2>&1 || true
        fi
    fi
    run_scenario "$name" "$fn"
done

if ((SPAWN)) && [[ -z $ONLY || "SIGTERM shutdown" =~ $ONLY ]]; then
    selected=$((selected + 1))
    rc=0
    stop_server || rc=1
    report "SIGTERM shutdown" "$rc" "$STOP_PROBLEM" "$WORK/server.log"
fi
if ((SPAWN && FAILED > 0)); then
    echo "# last lines of the server log ($WORK/server.log):"
    tail -n 30 "$WORK/server.log" | sed 's/^/#   /'
fi

# A selection that matches nothing ran nothing: that is a mistake, not a pass.
if ((selected == 0)); then
    report "scenarios selected" 1 "no scenario matches${ONLY:+ --only '$ONLY'}$( ((SPAWN)) || printf ' (without --spawn)')"
fi

times=$(printf '%s, ' "${TIMES[@]}")
echo "# ran in $((SECONDS - started)) s: ${times%, }"
((FAILED == 0)) || printf '# failed: %s\n' "${FAILED_NAMES[@]}"
echo "$PASSED passed, $FAILED failed${SKIP:+, $SKIPPED skipped (--skip $SKIP)}"
((FAILED == 0))
