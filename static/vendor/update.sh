#!/usr/bin/env bash
# Re-fetch the pinned front-end libraries from the npm registry and copy the
# browser builds into static/vendor/<lib>/. No Node build step, no CDN.
#
# Usage:  bash static/vendor/update.sh
#
# To bump a library: change its *_VERSION below, set its *_INTEGRITY to ""
# (the script then prints the tarball's integrity and refuses to install),
# check the value against `npm view <name>@<version> dist.integrity`, paste
# it in, re-run, then update the table in README.md.
#
# Needs: bash, npm (and so node), tar. Works with any npm registry mirror set
# in npm's config (e.g. `npm config set registry ...`); the pinned sha512
# integrity values make a tampered or different tarball fail loudly.
set -euo pipefail

MARKED_VERSION="18.2.1"
MARKED_INTEGRITY="sha512-ii4bxCTCqqwpT86XZWgJNs+ZnAIZksmLGYMViWA7PDIXYIeNo1x6cDdX3JOip9NM/cI6p8z57FxliACboTruMA=="

DOMPURIFY_VERSION="3.4.18"
DOMPURIFY_INTEGRITY="sha512-ofe3wI/uNm68HInABYFJYqQxRw1EaKAjNdrFVKqjUY+UZurvNd2L/HuQe097s/4RivWiZyP6tT7aoT8atjfhwg=="

HIGHLIGHT_VERSION="11.12.0"   # npm package @highlightjs/cdn-assets
HIGHLIGHT_INTEGRITY="sha512-KvOKXODaiFmId9xaq3xc5xCL66wVLUuOngDbO9B/kewbFTqdGbn2nJxNhN3H5R1cgDTVj6R8vH0zgiNDEGjpDw=="

KATEX_VERSION="0.19.1"
KATEX_INTEGRITY="sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA=="

VENDOR_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# fetch NAME VERSION INTEGRITY -> unpacks into $WORK/<slug>/package, echoes that path
fetch() {
    local name="$1" version="$2" integrity="$3"
    local slug="${name//@/}"; slug="${slug//\//-}"
    local dir="$WORK/$slug"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "${name}@${version}" >/dev/null)
    local tgz
    tgz="$(ls "$dir"/*.tgz)"
    local actual
    actual="sha512-$(node -e 'const c=require("crypto"),fs=require("fs");process.stdout.write(c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
    if [[ "$actual" != "$integrity" ]]; then
        echo "update.sh: integrity mismatch for ${name}@${version}" >&2
        echo "  pinned: ${integrity:-<none>}" >&2
        echo "  got:    $actual" >&2
        exit 1
    fi
    tar -xzf "$tgz" -C "$dir"
    echo "$dir/package"
}

# install LIB SRC_DIR "src:dest" ... : stage files, then replace static/vendor/LIB whole
install_lib() {
    local lib="$1" src="$2"; shift 2
    local stage="$WORK/stage/$lib"
    mkdir -p "$stage"
    local pair from to
    for pair in "$@"; do
        from="${pair%%:*}"; to="${pair#*:}"
        mkdir -p "$(dirname "$stage/$to")"
        if [[ -d "$src/$from" ]]; then
            cp -R "$src/$from/." "$stage/$to/"
        else
            cp "$src/$from" "$stage/$to"
        fi
    done
    rm -rf "${VENDOR_DIR:?}/$lib"
    cp -R "$stage" "$VENDOR_DIR/$lib"
    echo "installed $lib"
}

# 1) fetch and verify every tarball first, so a bad pin changes nothing on disk
marked_src="$(fetch marked "$MARKED_VERSION" "$MARKED_INTEGRITY")"
dompurify_src="$(fetch dompurify "$DOMPURIFY_VERSION" "$DOMPURIFY_INTEGRITY")"
highlight_src="$(fetch @highlightjs/cdn-assets "$HIGHLIGHT_VERSION" "$HIGHLIGHT_INTEGRITY")"
katex_src="$(fetch katex "$KATEX_VERSION" "$KATEX_INTEGRITY")"

# 2) copy the browser builds into place
# marked ships no separate *.min.js: lib/marked.umd.js is already the minified
# UMD build (global `marked`). Its trailing `sourceMappingURL=marked.umd.js.map`
# comment is why the map is kept under its original name (Django's
# ManifestStaticFilesStorage fails collectstatic on a missing referenced map).
install_lib marked "$marked_src" \
    "lib/marked.umd.js:marked.min.js" \
    "lib/marked.umd.js.map:marked.umd.js.map" \
    "LICENSE:LICENSE"

# DOMPurify is dual-licensed (MPL-2.0 OR Apache-2.0): LICENSE is the Apache
# text, LICENSE-MPL the MPL text; both are kept.
install_lib dompurify "$dompurify_src" \
    "dist/purify.min.js:purify.min.js" \
    "dist/purify.min.js.map:purify.min.js.map" \
    "LICENSE:LICENSE" \
    "LICENSE-MPL:LICENSE-MPL"

install_lib highlight "$highlight_src" \
    "highlight.min.js:highlight.min.js" \
    "styles/github.min.css:github.min.css" \
    "styles/github-dark.min.css:github-dark.min.css" \
    "LICENSE:LICENSE"

# katex.min.css references fonts/*.woff2, *.woff and *.ttf; all are kept so
# every url() resolves (collectstatic with a manifest storage checks them).
install_lib katex "$katex_src" \
    "dist/katex.min.js:katex.min.js" \
    "dist/katex.min.css:katex.min.css" \
    "dist/fonts:fonts" \
    "LICENSE:LICENSE"

echo "done: marked $MARKED_VERSION, dompurify $DOMPURIFY_VERSION, highlight.js $HIGHLIGHT_VERSION, katex $KATEX_VERSION"
