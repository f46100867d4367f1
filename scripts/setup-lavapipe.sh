#!/bin/sh
# Usage: sh scripts/setup-lavapipe.sh [DEST]      (default DEST: ./.lavapipe)
# Users run it through `npx numkern setup webgpu` (DEST: the per-user cache, src/setup/lavapipe.ts).
#
# Installs a Vulkan software driver that Dawn accepts (lavapipe from Mesa >= 23, taken from
# <codename>-backports) plus the Vulkan loader into DEST, so WebGPU runs on a machine with no GPU.
# Debian 12's own lavapipe (Mesa 22.3) is rejected by Dawn, hence backports.
#
# Needs no root and leaves the system's APT state untouched: apt-get runs against a private
# configuration whose lists and cache live in a temporary folder. The archive URI is the one this
# machine already uses for its release, so the script works behind whatever mirror is configured.
#
# Idempotent: does nothing when DEST/lvp_icd.json exists (written last, so a failed run is retried).
# Silent on success unless NUMKERN_SETUP_PROGRESS=1, which prints one line per step on stderr (the
# fetch takes seconds to a minute); on failure prints apt's output and exits non-zero.
# Afterwards:  VK_DRIVER_FILES=DEST/lvp_icd.json  LD_LIBRARY_PATH=DEST/usr/lib/<multiarch>
set -eu

DEST=$(mkdir -p "${1:-$PWD/.lavapipe}" && cd "${1:-$PWD/.lavapipe}" && pwd)
[ -f "$DEST/lvp_icd.json" ] && exit 0

. /etc/os-release
CODENAME=${VERSION_CODENAME:-}
[ -n "$CODENAME" ] || { echo "setup-lavapipe: /etc/os-release has no VERSION_CODENAME" >&2; exit 1; }
MULTIARCH=$(uname -m)-linux-gnu

# The URI (and keyring) of the first enabled deb822 stanza that carries the release suite.
SRC=$(awk -v s="$CODENAME" '
  function flush() {
    if (!done && hit && uri != "" && !off) { print uri " " key; done = 1 }
    uri = ""; key = ""; hit = 0; off = 0
  }
  FNR == 1 || /^[ \t]*$/ { flush() }
  /^URIs:/      { uri = $2 }
  /^Signed-By:/ { if ($2 ~ /^\//) key = $2 }
  /^Enabled:/   { off = ($2 == "no") }
  /^Suites:/    { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
  END { flush() }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$SRC" ] && [ -r /etc/apt/sources.list ]; then
  SRC=$(awk -v s="$CODENAME" '$1 == "deb" {
      i = 2; key = ""
      if ($i ~ /^\[/) {
        for (; ; i++) { if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\]$/, "", key) }
                        if ($i ~ /\]$/) break }
        i++
      }
      if ($(i+1) == s) { print $i " " key; exit } }' /etc/apt/sources.list)
fi
URI=${SRC%% *}
KEYRING=${SRC#* }
[ "$KEYRING" != "$SRC" ] && [ -n "$KEYRING" ] || KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -n "$URI" ] || { echo "setup-lavapipe: no APT source for suite $CODENAME found" >&2; exit 1; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/parts" "$W/debs"
cat > "$W/parts/backports.sources" <<SRC
Types: deb
URIs: $URI
Suites: $CODENAME $CODENAME-backports
Components: main
Signed-By: $KEYRING
SRC
cat > "$W/apt.conf" <<CONF
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$W/parts";
Dir::State::Lists "$W/lists";
Dir::Cache "$W/cache";
CONF
# As root apt would hand the download to its _apt sandbox user, which cannot enter a private
# mktemp folder; it then warns and continues unsandboxed. Say so up front instead.
[ "$(id -u)" = 0 ] && echo 'APT::Sandbox::User "root";' >> "$W/apt.conf"
export APT_CONFIG="$W/apt.conf"

step() { [ "${NUMKERN_SETUP_PROGRESS:-}" = 1 ] && echo "setup-lavapipe: $*" >&2 || true; }
run() {
  "$@" > "$W/log" 2>&1 || { cat "$W/log" >&2; echo "setup-lavapipe: failed: $*" >&2; exit 1; }
}
step "1/3 reading the package lists for $CODENAME and $CODENAME-backports from $URI"
run apt-get -q update
cd "$W/debs"
step "2/3 downloading mesa-vulkan-drivers ($CODENAME-backports) and libvulkan1 (about 12 MB)"
run apt-get -q download "mesa-vulkan-drivers/$CODENAME-backports" "libvulkan1/$CODENAME"
step "3/3 unpacking into $DEST"
for d in ./*.deb; do run dpkg -x "$d" "$DEST"; done

# The packaged ICD json names a bare library; point it at the extracted copy.
LIB="$DEST/usr/lib/$MULTIARCH"
[ -f "$LIB/libvulkan_lvp.so" ] || { echo "setup-lavapipe: $LIB/libvulkan_lvp.so missing after unpacking" >&2; exit 1; }
sed "s#\"library_path\": *\"[^\"]*\"#\"library_path\": \"$LIB/libvulkan_lvp.so\"#" \
  "$DEST/usr/share/vulkan/icd.d/lvp_icd.json" > "$W/lvp_icd.json"
mv "$W/lvp_icd.json" "$DEST/lvp_icd.json"
