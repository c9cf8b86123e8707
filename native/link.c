/*
 * An interface's settings, by ioctl and rtnetlink: up, MTU, bridge port, IPv6 address
 * generation off, bridge port isolation. See link.h. Each call returns 0 or an errno and touches
 * no JS value, so that tap.c can run them on libuv's thread pool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link.h"

/* Runs one interface ioctl on a throwaway AF_INET socket; 0 or errno. */
static int if_ioctl(unsigned long req, struct ifreq *ifr) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc, err;
    if (s < 0) return errno;
    rc = ioctl(s, req, ifr);
    err = errno;
    close(s);
    return rc < 0 ? err : 0;
}

int link_up(const char *name) {
    struct ifreq ifr;
    int err;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    if ((err = if_ioctl(SIOCGIFFLAGS, &ifr))) return err;
    ifr.ifr_flags |= IFF_UP;
    return if_ioctl(SIOCSIFFLAGS, &ifr);
}

int link_set_mtu(const char *name, int mtu) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    ifr.ifr_mtu = mtu;
    return if_ioctl(SIOCSIFMTU, &ifr);
}

int link_bridge_add(const char *bridge, const char *port) {
    struct ifreq ifr, q;
    int err;
    memset(&q, 0, sizeof q);
    memcpy(q.ifr_name, port, IFNAMSIZ);
    if ((err = if_ioctl(SIOCGIFINDEX, &q))) return err;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, bridge, IFNAMSIZ);
    ifr.ifr_ifindex = q.ifr_ifindex;
    return if_ioctl(SIOCBRADDIF, &ifr);
}

/* ---- rtnetlink RTM_SETLINK on one interface ---- */

typedef struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
    char attrs[64];
} LinkReq;

/* Sends req for the interface named `name` and waits for the ack; 0 or errno (the kernel's too). */
static int setlink(const char *name, LinkReq *req) {
    struct ifreq ifr;
    struct {
        struct nlmsghdr nh;
        struct nlmsgerr err;
        char pad[64];
    } ack;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    int s, err;
    ssize_t n;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    if ((err = if_ioctl(SIOCGIFINDEX, &ifr))) return err;
    req->nh.nlmsg_type = RTM_SETLINK; /* AF_UNSPEC: do_setlink; AF_BRIDGE: the bridge port options */
    req->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req->nh.nlmsg_seq = 1;
    if (req->ifi.ifi_family == 0) req->ifi.ifi_family = AF_UNSPEC; /* AF_BRIDGE for port options */
    req->ifi.ifi_index = ifr.ifr_ifindex;
    s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return errno;
    if (sendto(s, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0 || (n = recv(s, &ack, sizeof ack, 0)) < 0) {
        err = errno;
        close(s);
        return err;
    }
    close(s);
    if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && ack.nh.nlmsg_type == NLMSG_ERROR && ack.err.error != 0)
        return -ack.err.error;
    return 0;
}

/* IPv6 address generation off (no link-local, so no RS/DAD/MLD from the port). */
int link_ipv6_off(const char *name) {
    LinkReq req;
    struct rtattr *spec, *inet6, *mode;
    int err;
    memset(&req, 0, sizeof req);
    /* IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE: u8 NONE } } */
    spec = (struct rtattr *)req.attrs;
    spec->rta_type = IFLA_AF_SPEC;
    inet6 = RTA_DATA(spec);
    inet6->rta_type = AF_INET6;
    mode = RTA_DATA(inet6);
    mode->rta_type = IFLA_INET6_ADDR_GEN_MODE;
    mode->rta_len = RTA_LENGTH(1);
    *(unsigned char *)RTA_DATA(mode) = IN6_ADDR_GEN_MODE_NONE;
    inet6->rta_len = RTA_LENGTH(RTA_ALIGN(mode->rta_len));
    spec->rta_len = RTA_LENGTH(inet6->rta_len);
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi) + RTA_ALIGN(spec->rta_len);
    err = setlink(name, &req);
    /* EAFNOSUPPORT: IPv6 is off in this kernel, which is what we want anyway. */
    return err == EAFNOSUPPORT ? 0 : err;
}

/* The bridge port may talk only to non-isolated ports (the bridge itself, leaf links), not to
   other isolated ones: clients do not see each other. */
int link_isolate(const char *name) {
    LinkReq req;
    struct rtattr *protinfo, *iso;
    memset(&req, 0, sizeof req);
    req.ifi.ifi_family = AF_BRIDGE;
    protinfo = (struct rtattr *)req.attrs;
    protinfo->rta_type = IFLA_PROTINFO | NLA_F_NESTED;
    iso = RTA_DATA(protinfo);
    iso->rta_type = IFLA_BRPORT_ISOLATED;
    iso->rta_len = RTA_LENGTH(1);
    *(unsigned char *)RTA_DATA(iso) = 1;
    protinfo->rta_len = RTA_LENGTH(RTA_ALIGN(iso->rta_len));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi) + RTA_ALIGN(protinfo->rta_len);
    return setlink(name, &req);
}
