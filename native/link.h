/*
 * An interface's settings (link.c), for tap.c's TAP creation. Each takes the interface's name
 * and returns 0 or an errno (the kernel's answer for rtnetlink); none touches a JS value, so
 * they may run on libuv's thread pool (they wait for the kernel's RTNL lock, which anything
 * changing interfaces on the host may hold for a while).
 */
#ifndef WSNIC_LINK_H
#define WSNIC_LINK_H

int link_up(const char *name);
int link_set_mtu(const char *name, int mtu);
/* Makes port a port of bridge. */
int link_bridge_add(const char *bridge, const char *port);
/* IPv6 address generation off (no link-local, so no RS/DAD/MLD); 0 where IPv6 is not built in. */
int link_ipv6_off(const char *name);
/* Bridge port isolation: the port reaches non-isolated ports only (not other clients). */
int link_isolate(const char *name);

#endif
