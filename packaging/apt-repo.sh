#!/bin/sh
# npm run apt-repo: a signed apt repository of wsnic, to be served over HTTPS as it is.
#   WSNIC_APT_URL=https://apt.example.org/wsnic/ WSNIC_APT_KEY=FINGERPRINT npm run apt-repo [-- DEB...]
# With no DEB it builds one (packaging/build-deb.sh). The .debs join the repository's pool, where
# earlier versions stay; the indices are made anew from the whole pool and signed.
# Environment:
#   WSNIC_APT_URL        where the repository will be served (wsnic.sources names it); required
#   WSNIC_APT_KEY        the signing key: a key id or fingerprint in the maintainer's GnuPG home
#   WSNIC_APT_GNUPGHOME  that GnuPG home (default: gpg's own, $GNUPGHOME or ~/.gnupg)
#   WSNIC_APT_DIR        the repository (default packaging/out/apt)
#   WSNIC_APT_SUITE      the suite (default stable); the component is main
# --throwaway-key signs with a key made for tests instead, kept beside the repository (DIR.gnupg,
# never inside what is served) so that later runs on the same DIR sign with the same key.
# Made (DIR/): pool/main/w/wsnic/*.deb, dists/SUITE/main/binary-ARCH/Packages(.gz) for each
# architecture the pool holds a .deb of (the package is Architecture: any, built per machine),
# dists/SUITE/{Release,InRelease,Release.gpg}, wsnic-archive-keyring.asc (the public key) and
# wsnic.sources (deb822, the key inline in Signed-By: one download gives a user everything).
# Progress goes to stderr; the last line of stdout is the repository's directory.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${WSNIC_APT_DIR:-$root/packaging/out/apt}
suite=${WSNIC_APT_SUITE:-stable}
url=${WSNIC_APT_URL:-}
key=${WSNIC_APT_KEY:-}
throwaway=0
die() { echo "apt-repo: $*" >&2; exit 1; }

set -- "$@" --
while [ "$1" != -- ]; do
	case "$1" in
	--throwaway-key) throwaway=1 ;;
	-*) die "unknown option $1 (--throwaway-key, or .deb files)" ;;
	*.deb) [ -f "$1" ] || die "$1: no such file"; set -- "$@" "$(readlink -f "$1")" ;;
	*) die "$1: not a .deb file" ;;
	esac
	shift
done
shift # the --: "$@" is now the .debs

for tool in apt-ftparchive:apt-utils gpg:gnupg gpgconf:gnupg dpkg-deb:dpkg; do
	command -v "${tool%%:*}" >/dev/null || die "${tool%%:*} missing: apt-get install ${tool#*:} (or packaging/install-deps.sh --test)"
done
[ -n "$url" ] || die "no WSNIC_APT_URL: set it to the https:// URL the repository will be served at (wsnic.sources names it)"
case "$url" in http://* | https://*) ;; *) die "WSNIC_APT_URL '$url' is not an http(s):// URL" ;; esac
case "$url" in */) ;; *) url="$url/" ;; esac
case "$suite" in *[!A-Za-z0-9._-]* | "") die "WSNIC_APT_SUITE '$suite': letters, digits, '.', '_' and '-' only" ;; esac

# The signing key. A throwaway one gets its own GnuPG home, and its agent is stopped on exit.
if [ "$throwaway" = 1 ]; then
	[ -z "$key" ] || die "WSNIC_APT_KEY and --throwaway-key: give one of them"
	mkdir -p "$(dirname "$dir")"
	gnupghome="$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir").gnupg"
	mkdir -p -m 0700 "$gnupghome"
	trap 'gpgconf --homedir "$gnupghome" --kill gpg-agent 2>/dev/null || true' EXIT
	if ! gpg --homedir "$gnupghome" --batch --list-secret-keys 2>/dev/null | grep -q .; then
		echo "apt-repo: making a throwaway signing key in $gnupghome (for tests, not for users)" >&2
		gpg --homedir "$gnupghome" --batch --pinentry-mode loopback --passphrase '' \
			--quick-gen-key 'wsnic throwaway test archive <wsnic-test@invalid>' ed25519 sign 30d >&2
	fi
	key=$(gpg --homedir "$gnupghome" --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" { print $10; exit }')
else
	[ -n "$key" ] || die "no signing key: set WSNIC_APT_KEY to the key id or fingerprint of the archive key in your GnuPG home (WSNIC_APT_GNUPGHOME, default ~/.gnupg); --throwaway-key makes a test-only key"
	gnupghome=${WSNIC_APT_GNUPGHOME:-${GNUPGHOME:-$HOME/.gnupg}}
	gpg --homedir "$gnupghome" --batch --list-secret-keys "$key" >/dev/null 2>&1 ||
		die "WSNIC_APT_KEY '$key': no secret key of that id in $gnupghome (gpg --list-secret-keys)"
fi
g() { gpg --homedir "$gnupghome" --batch --yes "$@"; }

# With no .deb given, the tree's own.
if [ $# -eq 0 ]; then
	set -- "$("$root/packaging/build-deb.sh" | tail -n 1)"
fi

pool="pool/main/w/wsnic"
mkdir -p "$dir/$pool"
for deb in "$@"; do
	[ "$(dpkg-deb -f "$deb" Package)" = wsnic ] || die "$deb: not a wsnic package"
	arch=$(dpkg-deb -f "$deb" Architecture)
	case "$arch" in all | *[!a-z0-9-]* | "") die "$deb: architecture '$arch' (wsnic's packages are built for one: amd64, arm64, ...)" ;; esac
	name="wsnic_$(dpkg-deb -f "$deb" Version)_$arch.deb"
	if [ -f "$dir/$pool/$name" ]; then
		# A published version never changes: clients that fetched its index would get a hash
		# mismatch. Build a higher version instead (or delete the file if it was never served).
		cmp -s "$deb" "$dir/$pool/$name" || die "$dir/$pool/$name exists with other contents: a version is published once; build a higher version"
	else
		cp "$deb" "$dir/$pool/$name.tmp"
		mv "$dir/$pool/$name.tmp" "$dir/$pool/$name"
		echo "apt-repo: added $name" >&2
	fi
done

# The indices, one per architecture in the pool, each written under another name and renamed
# into place.
cd "$dir"
archs=$(ls "$pool" | sed -n 's/^wsnic_[^_]*_\([a-z0-9-]*\)\.deb$/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//')
for arch in $archs; do
	bin="dists/$suite/main/binary-$arch"
	mkdir -p "$bin"
	apt-ftparchive --arch "$arch" packages pool > "$bin/Packages.tmp"
	gzip -9nc "$bin/Packages.tmp" > "$bin/Packages.gz.tmp"
	mv "$bin/Packages.gz.tmp" "$bin/Packages.gz"
	mv "$bin/Packages.tmp" "$bin/Packages"
done
# The old Release goes first: apt-ftparchive would list it (and its signatures) as an index.
rm -f "dists/$suite/InRelease" "dists/$suite/Release.gpg" "dists/$suite/Release"
apt-ftparchive \
	-o APT::FTPArchive::Release::Origin=wsnic -o APT::FTPArchive::Release::Label=wsnic \
	-o "APT::FTPArchive::Release::Suite=$suite" -o "APT::FTPArchive::Release::Codename=$suite" \
	-o "APT::FTPArchive::Release::Architectures=$archs" -o APT::FTPArchive::Release::Components=main \
	-o 'APT::FTPArchive::Release::Description=wsnic, a WebSocket-to-Ethernet relay' \
	release "dists/$suite" > "dists/$suite/.Release.tmp"
mv "dists/$suite/.Release.tmp" "dists/$suite/Release"
g --local-user "$key" --digest-algo SHA512 --armor --detach-sign -o "dists/$suite/Release.gpg" "dists/$suite/Release"
g --local-user "$key" --digest-algo SHA512 --clearsign -o "dists/$suite/InRelease" "dists/$suite/Release"

# The public key, alone and inline in the sources file (deb822 continuation lines: a leading
# space, an empty line as " ."; apt >= 2.3, Debian 12 has 2.6).
g --export --armor --export-options export-minimal "$key" > wsnic-archive-keyring.asc
grep -q 'BEGIN PGP PUBLIC KEY BLOCK' wsnic-archive-keyring.asc || die "gpg exported no public key for '$key'"
{
	echo "# wsnic's apt repository. Save as /etc/apt/sources.list.d/wsnic.sources, then: apt update"
	echo "Types: deb"
	echo "URIs: $url"
	echo "Suites: $suite"
	echo "Components: main"
	echo "Architectures: $archs"
	echo "Signed-By:"
	sed -e 's/^$/./' -e 's/^/ /' wsnic-archive-keyring.asc
} > wsnic.sources.tmp
mv wsnic.sources.tmp wsnic.sources
echo "apt-repo: $(ls "$pool" | wc -l) package(s) in $dir, signed by $key; serve it at $url" >&2
pwd
