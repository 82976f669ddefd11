#!/bin/bash
# Build Clara's Debian packages (Debian 12) into OUTDIR, then check them with lintian.
#
#   scripts/build-debs.sh OUTDIR
#
# 1. installs the build dependencies that are missing (apt-get, as root);
# 2. builds the Python libraries Debian 12 lacks (python3-torf) from their PyPI sdists
#    (pinned in debian/thirdparty/thirdparty.list, SHA-256 checked; downloaded once into
#    $CLARA_SDIST_CACHE, default ~/.cache/clara-debs) unless OUTDIR already holds them;
# 3. builds the clara source package (dpkg-buildpackage -us -uc -b) in a copy of the
#    checkout, so the working tree is never touched;
# 4. runs lintian on everything built: an error fails the script.
#
# See docs/packaging.md.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
CACHE=${CLARA_SDIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clara-debs}
# Debian's own tools and interpreter, whatever else is first on PATH (pyenv, a venv...).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH VIRTUAL_ENV PYTHONHOME
export LC_ALL=C.UTF-8

BUILD_DEPS=(
    build-essential debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools
    python3-pip python3-click python3-clustershell python3-pluggy python3-rich python3-jinja2
    lintian man-db git
)

say() { echo "build-debs: $*" >&2; }

install_build_deps() {
    local missing=() pkg
    for pkg in "${BUILD_DEPS[@]}"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing build dependencies: ${missing[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            say "run as root, or install them first: apt-get install ${missing[*]}"
            exit 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

# The sdist of PyPI name $1, version $2, checked against SHA-256 $3: its path on stdout.
fetch_sdist() {
    local name=$1 version=$2 sha=$3 file
    file="$CACHE/$name-$version.tar.gz"
    if [ ! -f "$file" ] || ! echo "$sha  $file" | sha256sum --check --status; then
        mkdir -p "$CACHE"
        say "downloading the sdist of $name $version"
        python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$CACHE" "$name==$version" >&2
    fi
    if ! echo "$sha  $file" | sha256sum --check --status; then
        say "$file: SHA-256 differs from debian/thirdparty/thirdparty.list"
        exit 1
    fi
    echo "$file"
}

# Build the third-party source package $1 (PyPI name $2, version $3, Debian revision $4).
build_thirdparty() {
    local source=$1 name=$2 version=$3 revision=$4 sha=$5 sdist dir
    if compgen -G "$OUTDIR/python3-${name}_${version}-${revision}_*.deb" >/dev/null; then
        say "python3-$name $version-$revision already in $OUTDIR"
        return
    fi
    sdist=$(fetch_sdist "$name" "$version" "$sha")
    dir="$WORK/$source-$version"
    cp "$sdist" "$WORK/${source}_$version.orig.tar.gz"
    mkdir -p "$dir"
    tar -xzf "$sdist" -C "$dir" --strip-components=1
    cp -r "$ROOT/debian/thirdparty/$source/debian" "$dir/debian"
    say "building $source $version-$revision"
    (cd "$dir" && dpkg-buildpackage -us -uc -b) >"$WORK/$source.log" 2>&1 || {
        tail -n 40 "$WORK/$source.log" >&2
        exit 1
    }
    cp "$WORK/${source}_${version}-${revision}"_*.changes "$WORK/${source}_${version}-${revision}"_*.buildinfo \
        "$WORK"/python3-"$name"_*.deb "$OUTDIR/"
}

# A copy of the checkout's files (tracked, and new ones not ignored) into $1.
copy_checkout() {
    local dest=$1 path
    mkdir -p "$dest"
    git -C "$ROOT" ls-files --cached --others --exclude-standard -z |
        while IFS= read -r -d '' path; do
            [ -e "$ROOT/$path" ] && printf '%s\0' "$path"
        done |
        tar -C "$ROOT" --null --files-from=- -cf - | tar -C "$dest" -xf -
}

install_build_deps
WORK=$(mktemp -d "${TMPDIR:-/tmp}/clara-debs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

while IFS=$'\t' read -r source name version revision sha; do
    case "$source" in '#'* | '') continue ;; esac
    build_thirdparty "$source" "$name" "$version" "$revision" "$sha"
done <"$ROOT/debian/thirdparty/thirdparty.list"

say "building clara"
copy_checkout "$WORK/clara"
(cd "$WORK/clara" && dpkg-buildpackage -us -uc -b) >"$WORK/clara.log" 2>&1 || {
    tail -n 60 "$WORK/clara.log" >&2
    exit 1
}
rm -f "$OUTDIR"/clara_*.changes "$OUTDIR"/clara*_all.deb
cp "$WORK"/clara_*.changes "$WORK"/clara_*.buildinfo "$WORK"/clara*_all.deb "$OUTDIR/"

say "lintian"
lintian --fail-on error --tag-display-limit 0 "$OUTDIR"/*.changes
say "packages in $OUTDIR:"
ls -1 "$OUTDIR"/*.deb >&2
