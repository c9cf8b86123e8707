#!/bin/sh
# Builds the addon with AddressSanitizer and UBSan (gcc), cached under /var/tmp by its sources,
# and prints the .node file's path. A relay loads it with WSNIC_ADDON=PATH and libasan preloaded
# (LD_PRELOAD="$(gcc -print-file-name=libasan.so)"): see test/e2e/topology.ts, WSNIC_ASAN.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
hash=$(cat "$root"/native/*.c "$root"/native/*.h "$root"/native/binding.gyp | sha256sum | cut -c1-16)
out=/var/tmp/wsnic-asan/$hash
if [ ! -f "$out/wsnic.node" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cp "$root"/native/*.c "$root"/native/*.h "$root"/native/binding.gyp "$work/"
	flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
	(cd "$work" && CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
		"$root/node_modules/.bin/node-gyp" rebuild --nodedir=/usr >"$work/build.log" 2>&1) ||
		{ cat "$work/build.log" >&2; exit 1; }
	mkdir -p "$out"
	cp "$work/build/Release/wsnic.node" "$out/wsnic.node.tmp"
	mv "$out/wsnic.node.tmp" "$out/wsnic.node"
fi
echo "$out/wsnic.node"
