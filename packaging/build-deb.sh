#!/bin/sh
# npm run deb: builds wsnic_<version>_amd64.deb with dpkg-buildpackage and a minimal debhelper
# debian/ (packaging/debian), and prints its path as the last line.
# The tree is staged under a temporary directory: the built JS and addon, and production
# node_modules only (no dev dependencies), in app/ for debian/rules to install.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(node -p "require('$root/package.json').version")
out="$root/packaging/out"
stage=$(mktemp -d /tmp/wsnic-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
src="$stage/wsnic-$version"

for tool in dpkg-buildpackage dh fakeroot; do
	command -v "$tool" >/dev/null || { echo "build-deb: $tool missing: apt-get install debhelper fakeroot dpkg-dev" >&2; exit 1; }
done
(cd "$root" && npm run --silent build >&2)

mkdir -p "$src/app/native/build/Release"
cp -r "$root/packaging/debian" "$src/debian"
cp -r "$root/packaging" "$root/systemd" "$root/nftables" "$root/dnsmasq.d" "$root/README.md" "$src/"
cp -r "$root/dist" "$root/package.json" "$root/package-lock.json" "$src/app/"
find "$src/app/dist" -name '*.map' -delete
rm -f "$src/app/dist/cli/gen.js" # a developer tool
cp "$root/native/build/Release/wsnic.node" "$src/app/native/build/Release/"
(cd "$src/app" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >&2 && rm -f package-lock.json)
# Only what runs: no tests, examples, docs or npm metadata of the dependencies (lintian).
find "$src/app/node_modules" \( -name .npmignore -o -name test -o -name tests -o -name example -o -name examples \
	-o \( -name '*.md' -not -iname 'licen*' \) -o -name '*.markdown' -o -name '.travis.yml' -o -name '.eslintrc*' -o -name '*.ts' \) \
	-prune -exec rm -rf {} +
node "$root/packaging/copyright.js" "$src/app/node_modules" > "$src/debian/copyright"
# Nothing under /usr/lib/wsnic runs as a script (/usr/bin/wsnic calls node): drop #! lines,
# which lintian would want executable (and dh_fixperms makes them not).
grep -rlI '^#!' "$src/app" | xargs -r sed -i '1{/^#!/d}'
rm -rf "$src/packaging/out"

(cd "$src" && dpkg-buildpackage -b -us -uc -rfakeroot >&2)
mkdir -p "$out"
deb="$out/wsnic_${version}_amd64.deb"
mv "$stage/wsnic_${version}_amd64.deb" "$deb"
echo "$deb"
