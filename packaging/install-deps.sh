#!/bin/sh
# Installs what wsnic needs from Debian's archive (as root, on Debian 12).
#   packaging/install-deps.sh          runtime: ip, nft, dnsmasq, a C toolchain for the addon
#   packaging/install-deps.sh --test   also what the test suite drives: busybox (udhcpc,
#                                      nslookup, wget), openssl, python3-websockets, and the
#                                      packaging tools (npm run deb, npm run apt-repo)
set -eu
pkgs="iproute2 nftables dnsmasq-base procps python3 make g++"
if [ "${1:-}" = "--test" ]; then
	# libraries of Debian's own nodejs 18, which a test runs the relay on (test/tools/debian-node18.sh)
	pkgs="$pkgs busybox openssl python3-websockets libc-ares2 libicu72 libnghttp2-14 libuv1 libbrotli1"
	# the Debian package (npm run deb, lintian), its apt repository (npm run apt-repo:
	# apt-ftparchive, gpg) and the booted-container tests (test/system)
	pkgs="$pkgs debhelper dpkg-dev fakeroot lintian apt-utils gnupg mmdebstrap systemd-container util-linux"
	# the container image test (test/system/docker.test.ts): Debian's own Docker engine
	pkgs="$pkgs docker.io"
	# a client's traffic on its TAP (test/e2e/status.test.ts)
	pkgs="$pkgs tcpdump"
	# the frame codec's fuzz harness and the sanitizer build of the addon (test/native): clang's
	# libFuzzer, AddressSanitizer and UBSan
	pkgs="$pkgs clang-14 libclang-rt-14-dev"
	# a Prometheus server scraping the relay's /metrics (test/e2e/metrics.test.ts)
	pkgs="$pkgs prometheus"
	# real clients: Chromium (driven by playwright-core), v86 guest parts; iperf3 for npm run bench,
	# perf for its --perf profiles
	pkgs="$pkgs chromium seabios iperf3 linux-perf"
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing Debian packages:$missing (run this script as root)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# The tests start their own Docker engine and Prometheus: the packages' services must not
	# start (a system dockerd turns the host's ip_forward on, which new namespaces inherit, and
	# changes its firewall). Debian's way: a policy-rc.d that says no, for this install only.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ -n "$policy" ] && rm -f "$policy"
	# Under systemd they would still start at the next boot: not enabled, if installed here.
	if [ -d /run/systemd/system ]; then
		case " $missing " in *" docker.io "*) systemctl disable -q docker.service docker.socket containerd.service 2>/dev/null || true ;; esac
		case " $missing " in *" prometheus "*) systemctl disable -q prometheus.service 2>/dev/null || true ;; esac
	fi
fi
command -v node >/dev/null || { echo "install-deps: installing nodejs npm" >&2; apt-get install -y -qq nodejs npm >/dev/null; }
