#!/bin/sh
# Prints Debian's bookworm suites from the host's APT sources, one "deb URI SUITE COMPONENTS"
# line each, for the root filesystems the tests build with mmdebstrap (rootfs.sh,
# docker-base.sh). Both the one-line (.list) and deb822 (.sources) formats; only bookworm,
# -updates and -security, never a third-party source such as nodesource.
set -eu
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	case "$f" in
	*.sources) awk 'BEGIN { RS = ""; FS = "\n" } {
			types = uris = suites = comps = ""; on = 1
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^#/) continue
				k = tolower($i); sub(/:.*/, "", k); v = $i; sub(/^[^:]*:[ \t]*/, "", v)
				if (k == "types") types = v; else if (k == "uris") uris = v
				else if (k == "suites") suites = v; else if (k == "components") comps = v
				else if (k == "enabled" && v == "no") on = 0
			}
			if (!on || (" " types " ") !~ / deb /) next
			nu = split(uris, u, " "); ns = split(suites, s, " ")
			for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print "deb", u[a], s[b], comps
		}' "$f" ;;
	*) sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { $1 = ""; print "deb" $0 }' ;;
	esac
done | awk '$3 ~ /^bookworm(-updates|-security)?$/ && $2 !~ /nodesource/' | sort -u

