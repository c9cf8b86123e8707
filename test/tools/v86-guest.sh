#!/bin/sh
# Prints the directory of a tiny i386 Linux guest for v86 (test/e2e/v86.test.ts), assembled only
# from Debian packages: the kernel `linux-image-6.1.0-N-686` (the newest N), `busybox-static` and
# the host's `seabios`. The i386 .debs come from `apt-get download` under a private APT
# configuration (its own lists and cache under /var/tmp, the host's Debian bookworm sources only);
# the host's dpkg architectures are not touched. The initramfs holds busybox, the NIC modules for
# ne2k-pci and virtio-net (with their dependencies, loaded in order) and an /init that takes a DHCP
# lease, pings the gateway, resolves a name, fetches a URL and prints a `WSNIC-STEP ...` line on
# the serial console for each step.
#
# Cached as /var/tmp/wsnic-v86guest/<key>/ (key: this script and the chosen package versions):
# bzImage, initrd, bios.bin, vgabios-stdvga.bin, versions. Progress goes to stderr; the last line
# of stdout is the directory.
# Exit status 75 (EX_TEMPFAIL): the i386 packages could not be fetched (no index, no download);
# any other failure is 1.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "v86-guest: must run as root (apt-get, mknod)" >&2; exit 1; }
cache=/var/tmp/wsnic-v86guest
apt="$cache/apt"
mkdir -p "$cache"
log() { echo "v86-guest: $*" >&2; }
unavailable() { echo "v86-guest: i386 packages unavailable: $*" >&2; exit 75; }

# One run at a time: APT's lists and the cache directory are shared.
if command -v flock >/dev/null; then
	exec 9>"$cache/.lock"
	flock 9
fi

tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# --- a private APT for i386 --------------------------------------------------------------------
# The host's Debian bookworm entries (deb822 .sources and one-line .list), one
# "URI SUITE COMPONENTS SIGNED-BY" line each; third-party sources (nodesource, ...) are skipped.
entries=$(
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		case "$f" in
		*.sources) awk 'BEGIN { RS = ""; FS = "\n" } {
				types = uris = suites = comps = key = ""; on = 1
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^#/) continue
					k = tolower($i); sub(/:.*/, "", k); v = $i; sub(/^[^:]*:[ \t]*/, "", v)
					if (k == "types") types = v; else if (k == "uris") uris = v
					else if (k == "suites") suites = v; else if (k == "components") comps = v
					else if (k == "signed-by") key = v
					else if (k == "enabled" && v == "no") on = 0
				}
				if (!on || (" " types " ") !~ / deb /) next
				if (key == "" || key ~ / /) key = "-"
				nu = split(uris, u, " "); ns = split(suites, s, " ")
				for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print u[a], s[b], comps, key
			}' "$f" ;;
		*) sed -e 's/#.*//' "$f" | awk '$1 == "deb" {
				key = "-"
				if ($2 ~ /^\[/) {
					opts = ""
					while ($2 !~ /\]$/) { opts = opts " " $2; $2 = ""; $0 = $0 }
					opts = opts " " $2; $2 = ""; $0 = $0
					if (match(opts, /signed-by=[^] ]+/)) key = substr(opts, RSTART + 10, RLENGTH - 10)
				}
				comps = ""; for (i = 4; i <= NF; i++) comps = comps " " $i
				print $2, $3, substr(comps, 2), key
			}' ;;
		esac
	done | awk '$2 ~ /^bookworm(-updates|-security)?$/ && $1 !~ /nodesource/' | sort -u
)
[ -n "$entries" ] || unavailable "no Debian bookworm entry in the host's APT sources"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$apt/preferences.d"
: > "$apt/status"
echo "$entries" | while read -r uri suite comps key; do
	[ "$key" = "-" ] && [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && key=/usr/share/keyrings/debian-archive-keyring.gpg
	if [ "$key" = "-" ]; then echo "deb [arch=i386] $uri $suite $comps"; else echo "deb [arch=i386 signed-by=$key] $uri $suite $comps"; fi
done > "$apt/sources.list.new"
cat > "$apt/apt.conf" <<EOF
APT::Architecture "i386";
APT::Architectures "i386";
APT::Sandbox::User "root";
Dir::State "$apt";
Dir::State::lists "$apt/lists";
Dir::State::status "$apt/status";
Dir::Cache "$apt/cache";
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "$apt/sources.list.d";
Dir::Etc::Preferences "$apt/preferences";
Dir::Etc::PreferencesParts "$apt/preferences.d";
Acquire::Languages "none";
EOF
export APT_CONFIG="$apt/apt.conf"

# The index is refreshed when the sources changed or it is a day old; a failed refresh keeps the
# lists that did arrive (a mirror in sync may fail one suite).
have_lists() { ls "$apt/lists/" 2>/dev/null | grep -q '_Packages'; }
fresh=$(find "$apt/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)
if ! cmp -s "$apt/sources.list.new" "$apt/sources.list" || [ -z "$fresh" ]; then
	mv "$apt/sources.list.new" "$apt/sources.list"
	log "apt-get update (i386, private lists under $apt)"
	if ! apt-get update -qq >"$tmp/update.log" 2>&1; then
		have_lists || { cat "$tmp/update.log" >&2; unavailable "apt-get update failed"; }
		log "apt-get update reported errors, going on with the lists that arrived:"
		grep '^[EW]:' "$tmp/update.log" | head -n 5 >&2 || true
	fi
else
	rm -f "$apt/sources.list.new"
fi
have_lists || unavailable "no i386 package lists"

# --- choose the packages -----------------------------------------------------------------------
candidate() { apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'; }
kpkg=""
for flavour in 686 686-unsigned 686-pae 686-pae-unsigned; do
	kpkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null \
		| grep -E "^linux-image-6\\.1\\.0-[0-9]+-$flavour\$" \
		| sort -t- -k4,4nr \
		| while read -r p; do [ -n "$(candidate "$p")" ] && { echo "$p"; break; }; done)
	[ -n "$kpkg" ] && break
done
[ -n "$kpkg" ] || unavailable "no linux-image-6.1.0-*-686 package in the i386 lists"
kver=$(candidate "$kpkg")
bver=$(candidate busybox-static)
[ -n "$bver" ] || unavailable "no busybox-static in the i386 lists"
[ -f /usr/share/seabios/bios.bin ] && [ -f /usr/share/seabios/vgabios-stdvga.bin ] \
	|| { log "missing /usr/share/seabios/bios.bin or vgabios-stdvga.bin (apt install seabios)"; exit 1; }
sver=$(dpkg-query -W -f='${Version}' seabios 2>/dev/null || echo unknown)

self=$(readlink -f "$0")
key=$({ cat "$self"; echo "$kpkg=$kver busybox-static=$bver seabios=$sver"; } | sha256sum | cut -c1-16)
out="$cache/$key"
if [ -f "$out/versions" ]; then
	echo "$out"
	exit 0
fi

# --- fetch and unpack --------------------------------------------------------------------------
log "building $out from $kpkg=$kver busybox-static=$bver"
mkdir -p "$tmp/debs" "$tmp/x"
(cd "$tmp/debs" && apt-get download -qq "$kpkg=$kver" "busybox-static=$bver") >"$tmp/download.log" 2>&1 \
	|| { cat "$tmp/download.log" >&2; unavailable "apt-get download $kpkg=$kver busybox-static=$bver failed"; }
for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$tmp/x"; done
kernel=$(ls "$tmp"/x/boot/vmlinuz-* | head -n 1)
release=${kernel##*/vmlinuz-}
mods=$(ls -d "$tmp"/x/lib/modules/"$release" "$tmp"/x/usr/lib/modules/"$release" 2>/dev/null | head -n 1)
[ -n "$mods" ] || { log "no modules directory for $release in $kpkg"; exit 1; }
[ -x "$tmp/x/bin/busybox" ] || { log "no bin/busybox in busybox-static"; exit 1; }

# --- modules: the NIC drivers and their dependencies, in load order ----------------------------
# Debian ships no modules.dep (depmod makes it on installation) and the host may have no kmod:
# each module's dependencies are read from the `depends=` string of its .modinfo section.
find "$mods" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' > "$tmp/ko.list"
ko_of() { # module name -> file (names match with - and _ alike)
	awk -v m="$1" '{ b = $0; sub(/.*\//, "", b); sub(/\.ko(\.xz|\.zst)?$/, "", b); gsub(/-/, "_", b)
		n = m; gsub(/-/, "_", n); if (b == n) { print; exit } }' "$tmp/ko.list"
}
plain_ko() { # a module file, decompressed (busybox insmod reads plain .ko)
	case "$1" in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -dcq "$1" ;;
	*) cat "$1" ;;
	esac
}
deps_of() { plain_ko "$(ko_of "$1")" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '; }
loaded=" "
order=""
add_module() {
	case "$loaded" in *" $1 "*) return 0 ;; esac
	[ -n "$(ko_of "$1")" ] || { log "module $1 not in $kpkg"; exit 1; }
	for dep in $(deps_of "$1"); do add_module "$dep"; done
	loaded="$loaded$1 "
	order="$order $1"
}
for m in ne2k-pci virtio_pci virtio_net; do add_module "$m"; done

# --- the initramfs -----------------------------------------------------------------------------
root="$tmp/root"
mkdir -p "$root/bin" "$root/sbin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/etc" "$root/lib/modules" "$root/root"
cp "$tmp/x/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
mknod "$root/dev/console" c 5 1
mknod "$root/dev/null" c 1 3
for m in $order; do
	plain_ko "$(ko_of "$m")" > "$root/lib/modules/$m.ko"
	echo "$m.ko" >> "$root/lib/modules/load-order"
done

cat > "$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# busybox udhcpc: configure the lease and note it for /init.
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip addr replace "$ip/$mask" dev "$interface"
	gw=${router%% *}
	[ -n "$gw" ] && ip route replace default via "$gw" dev "$interface"
	: > /etc/resolv.conf
	[ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
	echo "LEASE_IP=$ip LEASE_MASK=$mask LEASE_GW=$gw LEASE_DNS=${dns%% *}" > /tmp/lease
	;;
esac
exit 0
EOF
chmod 755 "$root/etc/udhcpc.script"

cat > "$root/init" <<'EOF'
#!/bin/sh
# wsnic's v86 test guest. Kernel command line: wsnic_name=NAME (resolved through the DHCP DNS
# server), wsnic_url=URL (fetched over HTTP). One "WSNIC-STEP ..." line per step on the console.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
step() { echo "WSNIC-STEP $*"; }
stop() { sync; poweroff -f; while :; do sleep 3600; done; }
fail() { step fail "$*"; stop; }
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}" ;; esac; done; }
name=$(arg wsnic_name); name=${name:-www.example.test}
url=$(arg wsnic_url)
step init "$(uname -r)"

while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m"
done < /lib/modules/load-order
step modules ok

i=0
while [ ! -e /sys/class/net/eth0 ]; do
	i=$((i + 1)); [ "$i" -gt 50 ] && fail "no eth0"
	sleep 0.2
done
driver=$(basename "$(readlink /sys/class/net/eth0/device/driver)")
step nic eth0 "$driver" "$(cat /sys/class/net/eth0/address)"
ip link set lo up
ip link set eth0 up

udhcpc -i eth0 -n -q -t 10 -T 2 -s /etc/udhcpc.script >/tmp/udhcpc.log 2>&1 || { cat /tmp/udhcpc.log; fail lease; }
[ -f /tmp/lease ] || fail "lease (no bound event)"
. /tmp/lease
step lease "$LEASE_IP" "mask=$LEASE_MASK" "gw=$LEASE_GW" "dns=$LEASE_DNS"

[ -n "$LEASE_GW" ] || fail "ping-gw (no router in the lease)"
if ping -c 3 -W 2 "$LEASE_GW" >/tmp/ping.log 2>&1; then step ping-gw ok; else cat /tmp/ping.log; fail ping-gw; fi

[ -n "$LEASE_DNS" ] || fail "dns (no server in the lease)"
timeout 15 nslookup "$name" "$LEASE_DNS" >/tmp/dns.log 2>&1
addr=$(awk '/^Name:/ { n = 1; next } n && /^Address/ { a = $NF; sub(/:53$/, "", a); print a; exit }' /tmp/dns.log)
if [ -n "$addr" ]; then step dns ok "$addr"; else cat /tmp/dns.log; fail "dns $name"; fi

if [ -n "$url" ]; then
	# busybox 1.35's wget segfaults with -T, so timeout(1) bounds it.
	if timeout 20 wget -q -O /tmp/body "$url" >/tmp/wget.log 2>&1; then
		step http ok "$(head -c 200 /tmp/body | tr '\n' ' ')"
	else
		cat /tmp/wget.log
		fail "http $url"
	fi
fi
step done
stop
EOF
chmod 755 "$root/init"

if command -v cpio >/dev/null; then cpio_cmd=cpio; else cpio_cmd="busybox cpio"; fi
command -v cpio >/dev/null || command -v busybox >/dev/null || { log "need cpio or busybox to pack the initramfs"; exit 1; }
mkdir -p "$tmp/out"
(cd "$root" && find . | sort | $cpio_cmd -o -H newc -R 0:0 2>/dev/null) | gzip -9 > "$tmp/out/initrd"
cp "$kernel" "$tmp/out/bzImage"
cp /usr/share/seabios/bios.bin /usr/share/seabios/vgabios-stdvga.bin "$tmp/out/"
{
	echo "kernel $kpkg $kver $release"
	echo "busybox-static $bver"
	echo "seabios $sver"
	echo "modules$order"
} > "$tmp/out/versions"
rm -rf "$out"
mv "$tmp/out" "$out"
# Guests of earlier keys (older packages or script) are not used again.
for d in "$cache"/*; do
	case "${d##*/}" in "$key") ;; [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) rm -rf "$d" ;; esac
done
log "built $(du -sh "$out" | cut -f1): $(tr '\n' ';' < "$out/versions")"
echo "$out"
