#!/bin/sh
# wsnic: the relay and its tools, run on the system's Node.js.
exec /usr/bin/node /usr/lib/wsnic/dist/cli/main.js "$@"
