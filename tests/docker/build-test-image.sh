#!/usr/bin/env bash
# Builds the container backend's test image locally (no registry pull is possible on CI
# machines): `FROM scratch` holding the s3s-fs S3 server, installed from crates.io, and the
# shared libraries `ldd` lists for it. The `s3s-fs-test` backend profile runs this image.
#
# Usage: tests/docker/build-test-image.sh            (no-op when the image exists)
# Env:   BUCKETGATE_TEST_IMAGE (default bucketgate-test/s3s-fs:0.14.1)
#        S3S_FS_ROOT: where `cargo install` puts s3s-fs (default target/s3s-fs, kept between runs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

image=${BUCKETGATE_TEST_IMAGE:-bucketgate-test/s3s-fs:0.14.1}
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "test image $image: present"
    exit 0
fi

root=${S3S_FS_ROOT:-${CARGO_TARGET_DIR:-$PWD/target}/s3s-fs}
bin="$root/bin/s3s-fs"
if [[ ! -x "$bin" ]]; then
    echo "installing s3s-fs 0.14.1 from crates.io into $root"
    cargo install s3s-fs@0.14.1 --features binary --locked --root "$root" --target-dir "$root/build" --quiet
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/data" "$ctx/rootfs/tmp"
cp "$bin" "$ctx/rootfs/bin/s3s-fs"
# The dynamic loader and every library the binary links, at the paths ldd reports.
for lib in $(ldd "$bin" | grep -oE '/[^ ]+' | sort -u); do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
EXPOSE 9000
ENTRYPOINT ["/bin/s3s-fs"]
CMD ["--host", "0.0.0.0", "--port", "9000", "/data"]
DOCKERFILE
# The classic builder needs nothing but the engine (BuildKit may be missing on CI machines).
DOCKER_BUILDKIT=0 docker build --quiet -t "$image" "$ctx" >/dev/null
echo "test image $image: built"
