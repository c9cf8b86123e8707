#!/bin/sh
# Prints the path of a wrapper that runs Debian 12's own nodejs (18.20, the .deb's runtime) on
# this machine, whatever node is installed: the packages are fetched with `apt-get download`,
# unpacked under /var/tmp (cached, keyed by version) and run in a private mount namespace where
# /usr/share/nodejs holds their externalized builtins. The host's node is not touched.
set -eu
version=$(apt-cache madison nodejs | awk -F'|' '$2 ~ /^ *18\./ {gsub(/ /, "", $2); print $2; exit}')
if [ -z "$version" ]; then
	apt-get update -qq
	version=$(apt-cache madison nodejs | awk -F'|' '$2 ~ /^ *18\./ {gsub(/ /, "", $2); print $2; exit}')
fi
[ -n "$version" ] || { echo "debian-node18: no nodejs 18 in the APT sources" >&2; exit 1; }
dir="/var/tmp/wsnic-node18/$version"
if [ ! -x "$dir/node18" ] || ! grep -q 'unset NODE_OPTIONS' "$dir/node18"; then
	rm -rf "$dir" && mkdir -p "$dir/debs" && cd "$dir/debs"
	apt-get download -qq "nodejs=$version" "libnode108=$version" node-acorn node-cjs-module-lexer node-undici 2>/dev/null
	for d in *.deb; do dpkg -x "$d" "$dir/root"; done
	cat > "$dir/node18" <<EOS
#!/bin/sh
# Test runners inject their own node hooks through NODE_OPTIONS; they target the runner's node.
unset NODE_OPTIONS
R=$dir/root
exec unshare --mount sh -c 'mount -t tmpfs none /usr/share && mkdir /usr/share/nodejs && mount --bind "\$0/usr/share/nodejs" /usr/share/nodejs && LD_LIBRARY_PATH="\$0/usr/lib/x86_64-linux-gnu" exec "\$0/usr/bin/node" "\$@"' "\$R" "\$@"
EOS
	chmod +x "$dir/node18"
fi
"$dir/node18" --version >/dev/null
echo "$dir/node18"
