#!/bin/sh
# npm run deb: builds wsnic_<version>_<arch>.deb with dpkg-buildpackage and a minimal debhelper
# debian/ (packaging/debian), and prints its path as the last line. The package is
# Architecture: any, built for this machine's architecture: node-gyp compiles the addon here.
# The tree is staged under a temporary directory: the built JS and addon, and production
# node_modules only (no dev dependencies), in app/ for debian/rules to install.
# Environment (for tests that need a newer package than the tree's):
#   WSNIC_DEB_VERSION  package version instead of package.json's; the staged package.json,
#                      debian/changelog (a new entry on top) and man page get it, the tree not
#   WSNIC_DEB_OUT      directory for the .deb instead of packaging/out
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
base=$(node -p "require('$root/package.json').version")
version=${WSNIC_DEB_VERSION:-$base}
case "$version" in
[0-9]*) ;;
*) echo "build-deb: WSNIC_DEB_VERSION '$version' is not a version (e.g. 0.1.1)" >&2; exit 2 ;;
esac
# Native package: no revision (-), no epoch (:), as the .deb's file name carries it.
if printf '%s' "$version" | grep -q '[^A-Za-z0-9.+~]'; then
	echo "build-deb: WSNIC_DEB_VERSION '$version': only letters, digits, '.', '+' and '~'" >&2
	exit 2
fi
out=${WSNIC_DEB_OUT:-$root/packaging/out}
stage=$(mktemp -d /tmp/wsnic-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
src="$stage/wsnic-$version"

for tool in dpkg-buildpackage dh fakeroot; do
	command -v "$tool" >/dev/null || { echo "build-deb: $tool missing: apt-get install debhelper fakeroot dpkg-dev" >&2; exit 1; }
done
# No cross-building: the addon node-gyp compiles is this machine's, whatever dpkg is told.
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
build_arch=$(dpkg-architecture -qDEB_BUILD_ARCH)
if [ "$arch" != "$build_arch" ]; then
	echo "build-deb: DEB_HOST_ARCH $arch is not this machine's ($build_arch): no cross-building, the addon is compiled here" >&2
	exit 2
fi
# The JS and the addon are built into the staging directory, never into the tree's dist/ and
# native/build: tests run those meanwhile (node-gyp rebuild removes native/build for seconds),
# and two builds (test files run in parallel) must not write over each other.
mkdir -p "$src/app/native/build/Release" "$stage/gyp/native"
"$root/node_modules/.bin/tsc" -p "$root/tsconfig.json" --outDir "$src/app/dist" >&2
cp "$root/package.json" "$root/.npmrc" "$stage/gyp/" # .npmrc: nodedir, the installed headers
cp "$root/native/binding.gyp" "$root"/native/*.c "$root"/native/*.h "$stage/gyp/native/"
(cd "$stage/gyp" && npm run --silent build:native >&2)
cp "$stage/gyp/native/build/Release/wsnic.node" "$src/app/native/build/Release/"

cp -r "$root/packaging/debian" "$src/debian"
cp -r "$root/packaging" "$root/systemd" "$root/nftables" "$root/dnsmasq.d" "$root/README.md" "$src/"
cp "$root/package.json" "$root/package-lock.json" "$src/app/"
find "$src/app/dist" -name '*.map' -delete
rm -f "$src/app/dist/docs/gen.js" # a developer tool
(cd "$src/app" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >&2 && rm -f package-lock.json)
# The version `wsnic --version` prints and the man page shows.
sed -i "1s/\"wsnic [^\"]*\"/\"wsnic $version\"/" "$src/packaging/wsnic.1"
if [ "$version" != "$base" ]; then
	node -e 'const f = process.argv[1], p = JSON.parse(require("fs").readFileSync(f, "utf8")); p.version = process.argv[2];
		require("fs").writeFileSync(f, JSON.stringify(p, null, 2) + "\n")' "$src/app/package.json" "$version"
	# Dated after the entry below it (dpkg and lintian want the newest entry newest).
	changelog="$root/packaging/debian/changelog"
	prev=$(dpkg-parsechangelog -l "$changelog" -S Timestamp)
	now=$(date +%s)
	[ "$now" -gt "$prev" ] || now=$((prev + 1))
	{
		printf 'wsnic (%s) unstable; urgency=medium\n\n  * Built from wsnic %s as version %s (WSNIC_DEB_VERSION).\n\n' "$version" "$base" "$version"
		printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$changelog" -S Maintainer)" "$(date -R -u -d "@$now")"
		cat "$changelog"
	} > "$src/debian/changelog"
fi
# Only what runs: no tests, examples, docs or npm metadata of the dependencies (lintian).
find "$src/app/node_modules" \( -name .npmignore -o -name test -o -name tests -o -name example -o -name examples \
	-o \( -name '*.md' -not -iname 'licen*' \) -o -name '*.markdown' -o -name '.travis.yml' -o -name '.eslintrc*' -o -name '*.ts' \) \
	-prune -exec rm -rf {} +
node "$root/packaging/copyright.js" "$src/app/node_modules" > "$src/debian/copyright"
# Nothing under /usr/lib/wsnic runs as a script (/usr/bin/wsnic calls node): drop #! lines,
# which lintian would want executable (and dh_fixperms makes them not).
grep -rlI '^#!' "$src/app" | xargs -r sed -i '1{/^#!/d}'
# Directories the pruning above emptied (dist/docs without gen.js; lintian notes each).
find "$src/app" -mindepth 1 -type d -empty -delete
rm -rf "$src/packaging/out"

(cd "$src" && dpkg-buildpackage -b -us -uc -rfakeroot >&2)
mkdir -p "$out"
deb="$out/wsnic_${version}_${arch}.deb"
mv "$stage/wsnic_${version}_${arch}.deb" "$deb"
echo "$deb"
