#!/bin/sh
# Prints the path of a Debian 12 root filesystem tarball that boots with systemd-nspawn -b
# (test/system/container.ts). Built with mmdebstrap from the Debian mirrors the host's APT uses
# (never a third-party source such as nodesource: nodejs must be Debian's own 18.x), cached as
# /var/tmp/wsnic-rootfs/<key>.tar, where the key hashes this script, the package list and the
# mirrors, so any change rebuilds. The container has no network: all it needs is baked in.
# Progress goes to stderr; the last line of stdout is the tarball's path.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "rootfs: must run as root (mmdebstrap's root mode, apt-get)" >&2; exit 1; }
# wget: the README's first command for adding the apt repository (test/system/repo.test.ts).
pkgs="systemd,systemd-sysv,dbus,libpam-systemd,nodejs,dnsmasq-base,nftables,iproute2,procps,busybox,wget"
cache=/var/tmp/wsnic-rootfs

# Debian's bookworm suites from the host's sources (never a third-party one such as nodesource).
mirrors=$("$(dirname "$(readlink -f "$0")")/mirrors.sh")
[ -n "$mirrors" ] || { echo "rootfs: no bookworm mirror in the host's APT sources" >&2; exit 1; }

self=$(readlink -f "$0")
key=$({ cat "$self"; echo "$pkgs"; echo "$mirrors"; } | sha256sum | cut -c1-16)
out="$cache/$key.tar"
[ -f "$out" ] && { echo "$out"; exit 0; }

# Host tools (Debian packages): mmdebstrap builds the tree, systemd-container has systemd-nspawn.
missing=""
command -v mmdebstrap >/dev/null || missing="$missing mmdebstrap"
command -v systemd-nspawn >/dev/null || missing="$missing systemd-container"
if [ -n "$missing" ]; then
	echo "rootfs: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends $missing >&2
fi

mkdir -p "$cache"
# One build at a time (test files run in parallel); a waiter then finds the tarball made.
exec 9>"$cache/.lock"
flock 9
[ -f "$out" ] && { echo "$out"; exit 0; }
tmp="$cache/.$key.$$.tar"
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT TERM
echo "rootfs: building $out from:" >&2
echo "$mirrors" | sed 's/^/  /' >&2
start=$(date +%s)
# Mirror lines as separate arguments (each contains spaces).
set --
while IFS= read -r line; do set -- "$@" "$line"; done <<EOF
$mirrors
EOF
# Docs, man pages and translations are left out (dpkg path-exclude, dropped again at the end so
# that packages installed in a test get theirs): a smaller tree unpacks faster for every
# container. Customizations, run on the host with the tree in $1:
# - hostname; networkd enabled (wsnic looks for it on D-Bus);
# - wait-online masked: it would hold the boot in "starting" for 2 min waiting for links;
# - systemd-firstboot masked: it can prompt on the console on a first boot;
# - the vendor 80-container-host0.network (DHCP on host0) masked: container.ts writes a static
#   one per boot; nothing else is matched, so networkd leaves wsbr*/wstap* alone.
mmdebstrap --variant=apt --format=tar --include="$pkgs" \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook='echo wsnic-ct > "$1/etc/hostname"' \
	--customize-hook='chroot "$1" systemctl enable systemd-networkd.service' \
	--customize-hook='chroot "$1" systemctl mask systemd-networkd-wait-online.service systemd-firstboot.service' \
	--customize-hook='ln -sf /dev/null "$1/etc/systemd/network/80-container-host0.network"' \
	--customize-hook='rm "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"' \
	--customize-hook='chroot "$1" dpkg-query -W -f="\${Version}\n" nodejs | grep -q "^18\." || { echo "rootfs: nodejs is not 18.x" >&2; exit 1; }' \
	bookworm "$tmp" "$@" >&2
mv "$tmp" "$out"
# Tarballs of other versions of this script: each is ~200 MB, and a changed script never
# asks for an old one again.
find "$cache" -maxdepth 1 -name '*.tar' ! -name "$key.tar" -delete
echo "rootfs: built in $(($(date +%s) - start)) s, $(du -h "$out" | cut -f1)" >&2
echo "$out"
