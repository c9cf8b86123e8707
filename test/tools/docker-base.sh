#!/bin/sh
# Prints the path of a tarball to `docker import` as debian:bookworm-slim, which no registry can
# give here. Like the official slim image: mmdebstrap's minbase variant, with dpkg told to leave
# out docs, man pages and translations of whatever is installed later, and apt told to keep no
# downloaded .debs. Cached as /var/tmp/wsnic-docker-base/<key>.tar, the key hashing this script
# and the mirrors (test/tools/mirrors.sh), so any change rebuilds. Progress goes to stderr; the
# last line of stdout is the tarball's path.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "docker-base: must run as root (mmdebstrap's root mode)" >&2; exit 1; }
here=$(dirname "$(readlink -f "$0")")
cache=/var/tmp/wsnic-docker-base
mirrors=$("$here/mirrors.sh")
[ -n "$mirrors" ] || { echo "docker-base: no bookworm mirror in the host's APT sources" >&2; exit 1; }
key=$({ cat "$0"; echo "$mirrors"; } | sha256sum | cut -c1-16)
out="$cache/$key.tar"
[ -f "$out" ] && { echo "$out"; exit 0; }

mkdir -p "$cache"
exec 9>"$cache/.lock" # one build at a time; a waiter then finds the tarball made
flock 9
[ -f "$out" ] && { echo "$out"; exit 0; }
tmp="$cache/.$key.$$.tar"
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT TERM
set --
while IFS= read -r line; do set -- "$@" "$line"; done <<EOF
$mirrors
EOF
start=$(date +%s)
# The same trimming the official image's /etc/dpkg/dpkg.cfg.d/docker and apt.conf.d do.
mmdebstrap --variant=minbase --format=tar --include=ca-certificates \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook='mv "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap" "$1/etc/dpkg/dpkg.cfg.d/docker"' \
	--customize-hook='printf "APT::Keep-Downloaded-Packages \"false\";\nAcquire::Languages \"none\";\n" > "$1/etc/apt/apt.conf.d/docker-clean"' \
	--customize-hook='rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin' \
	bookworm "$tmp" "$@" >&2
mv "$tmp" "$out"
find "$cache" -maxdepth 1 -name '*.tar' ! -name "$key.tar" -delete # other versions of this script's
echo "docker-base: built in $(($(date +%s) - start)) s, $(du -h "$out" | cut -f1)" >&2
echo "$out"
