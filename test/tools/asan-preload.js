// Loaded first (NODE_OPTIONS=--require) into a relay or client running on the sanitizer build of
// the addon (test/e2e/topology.ts, sanitizerEnv): libasan is preloaded into this process only.
// The tools it starts (dnsmasq, ip, nft) get a clean environment: dnsmasq under the ASan runtime
// answers no DHCP.
'use strict';
delete process.env.LD_PRELOAD;
delete process.env.NODE_OPTIONS;
