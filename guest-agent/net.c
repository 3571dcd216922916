/* The guest's network for `minivmm exec --net user`: each NIC of a user-mode (slirp) network
 * gets the address the host's back end expects (QEMU's user-net defaults: 10.0.2.15/24, gateway
 * 10.0.2.2, DNS 10.0.2.3), configured statically, as the host told it in agent.conf: no DHCP
 * round trips at boot. The interface is found by its MAC address (the host chose it), not by
 * its name: the kernel names NICs in probe order. Plain ioctls, as ifconfig and route do: no
 * netlink library in a static init. */
#define _GNU_SOURCE
#include "agent.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define NIC_WAIT_MS 5000
#define RESOLV_CONF "/etc/resolv.conf"
/* In the initramfs: bind-mounted over the root's /etc/resolv.conf (net_finish_root). */
#define OUR_RESOLV_CONF "/etc/minivmm/resolv.conf"

int net_parse(const char *text, struct net_nic *nic, char *why, size_t why_len)
{
    char mac[32], address[32], gateway[32], dns[32];
    unsigned prefix = 0;
    int used = 0;
    memset(nic, 0, sizeof(*nic));
    if (sscanf(text, "%31s %31[0-9.]/%u %31s %31s%n", mac, address, &prefix, gateway, dns, &used) != 5 ||
        text[used] != 0) {
        snprintf(why, why_len, "'net %s' is not 'net MAC ADDRESS/PREFIX GATEWAY|- DNS|-'", text);
        return -1;
    }
    unsigned char *m = nic->mac;
    int mac_used = 0;
    if (sscanf(mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%n", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &mac_used) != 6 ||
        mac[mac_used] != 0) {
        snprintf(why, why_len, "'net %s': '%s' is not a MAC address", text, mac);
        return -1;
    }
    if (inet_pton(AF_INET, address, &nic->address) != 1 || prefix < 1 || prefix > 30) {
        snprintf(why, why_len, "'net %s': '%s/%u' is not an IPv4 address with a prefix of 1-30 bits", text, address,
                 prefix);
        return -1;
    }
    nic->netmask = htonl(~0U << (32 - prefix));
    nic->has_gateway = strcmp(gateway, "-") != 0;
    nic->has_dns = strcmp(dns, "-") != 0;
    if ((nic->has_gateway && inet_pton(AF_INET, gateway, &nic->gateway) != 1) ||
        (nic->has_dns && inet_pton(AF_INET, dns, &nic->dns) != 1)) {
        snprintf(why, why_len, "'net %s': the gateway or DNS server is not an IPv4 address", text);
        return -1;
    }
    return 0;
}

/* The name of the interface with `mac`, in name[IFNAMSIZ]; 0, or -1 if there is none. */
static int find_interface(const unsigned char mac[6], char name[IFNAMSIZ])
{
    char want[18];
    snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    DIR *dir = opendir("/sys/class/net");
    if (!dir) {
        return -1;
    }
    int found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= IFNAMSIZ) {
            continue;
        }
        char path[300], text[32] = "";
        snprintf(path, sizeof(path), "/sys/class/net/%s/address", e->d_name);
        ssize_t n = read_small_file(path, text, sizeof(text));
        if (n >= 17 && strncmp(text, want, 17) == 0) {
            memcpy(name, e->d_name, strlen(e->d_name) + 1); /* shorter than IFNAMSIZ: checked above */
            found = 0;
        }
    }
    closedir(dir);
    return found;
}

static void set_sockaddr(struct sockaddr *sa, uint32_t address)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = address;
    memcpy(sa, &sin, sizeof(sin));
}

int net_configure(const struct net_nic *nic, char *why, size_t why_len)
{
    char name[IFNAMSIZ];
    /* virtio_net is loaded by now and probes its devices as it registers; the wait covers a
     * kernel that probes asynchronously. */
    int waited = 0;
    while (find_interface(nic->mac, name) != 0) {
        if (waited++ >= NIC_WAIT_MS) {
            snprintf(why, why_len, "no network interface with the MAC address %02x:%02x:%02x:%02x:%02x:%02x appeared",
                     nic->mac[0], nic->mac[1], nic->mac[2], nic->mac[3], nic->mac[4], nic->mac[5]);
            return -1;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(why, why_len, "cannot make a socket to configure %s: %s", name, strerror(errno));
        return -1;
    }
    const char *step = NULL;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    set_sockaddr(&ifr.ifr_addr, nic->address);
    if (ioctl(s, SIOCSIFADDR, &ifr) != 0) {
        step = "set the address of";
    }
    set_sockaddr(&ifr.ifr_netmask, nic->netmask);
    if (!step && ioctl(s, SIOCSIFNETMASK, &ifr) != 0) {
        step = "set the netmask of";
    }
    if (!step && ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        step = "read the flags of";
    }
    ifr.ifr_flags |= IFF_UP;
    if (!step && ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
        step = "bring up";
    }
    if (!step && nic->has_gateway) {
        struct rtentry route;
        memset(&route, 0, sizeof(route));
        set_sockaddr(&route.rt_dst, 0);
        set_sockaddr(&route.rt_genmask, 0);
        set_sockaddr(&route.rt_gateway, nic->gateway);
        route.rt_flags = RTF_UP | RTF_GATEWAY;
        route.rt_dev = name;
        if (ioctl(s, SIOCADDRT, &route) != 0) {
            step = "add the default route through";
        }
    }
    if (step) {
        snprintf(why, why_len, "cannot %s %s: %s", step, name, strerror(errno));
    }
    close(s);
    return step ? -1 : 0;
}

int net_write_resolv_conf(const uint32_t *servers, int n)
{
    FILE *f = fopen(OUR_RESOLV_CONF, "we");
    if (!f) {
        agent_log("cannot write " OUR_RESOLV_CONF ": %s", strerror(errno));
        return -1;
    }
    char text[INET_ADDRSTRLEN];
    for (int i = 0; i < n; ++i) {
        fprintf(f, "nameserver %s\n", inet_ntop(AF_INET, &servers[i], text, sizeof(text)));
    }
    if (fclose(f) != 0) {
        agent_log("cannot write " OUR_RESOLV_CONF ": %s", strerror(errno));
        return -1;
    }
    return open(OUR_RESOLV_CONF, O_PATH | O_CLOEXEC);
}

/* Makes the directories of `path` (the last component excluded) that are missing, but only on
 * a tmpfs of the guest's own (/run, /tmp): never on a share, whose changes would reach the host. */
static int make_parents_on_tmpfs(const char *path)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        return -1;
    }
    *slash = 0;
    /* The deepest directory that exists must be a tmpfs. */
    char probe[4200];
    memcpy(probe, dir, sizeof(probe));
    struct stat st;
    while (stat(probe, &st) != 0) {
        char *up = strrchr(probe, '/');
        if (!up || up == probe) {
            return -1;
        }
        *up = 0;
    }
    struct statfs fs;
    if (statfs(probe, &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
        return -1;
    }
    for (char *p = dir + 1; *p; ++p) {
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    return mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Called in the new root: the root's /etc/resolv.conf names our DNS servers. A bind mount of
 * our file over it (the root is read-only, and a writable root is the host's own: its file must
 * not change). Where it is a link to a file that does not exist yet (systemd-resolved's
 * /run/systemd/resolve/stub-resolv.conf; /run is the guest's tmpfs), the file is made there. */
void net_finish_root(int resolv_fd)
{
    if (resolv_fd < 0) {
        return;
    }
    char source[64];
    snprintf(source, sizeof(source), "/proc/self/fd/%d", resolv_fd);
    struct stat st;
    if (lstat(RESOLV_CONF, &st) != 0) {
        agent_log("the root has no " RESOLV_CONF ": name lookups will use no DNS server");
    } else if (mount(source, RESOLV_CONF, NULL, MS_BIND, NULL) == 0) {
        mount(NULL, RESOLV_CONF, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
    } else if (errno == ENOENT && S_ISLNK(st.st_mode)) {
        /* The link's target, absolute (relative links are relative to /etc). */
        char link[4096] = "", target[4200];
        ssize_t n = readlink(RESOLV_CONF, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = 0;
            snprintf(target, sizeof(target), "%s%s", link[0] == '/' ? "" : "/etc/", link);
        }
        int fd = -1;
        if (n > 0 && make_parents_on_tmpfs(target) == 0 &&
            (fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) >= 0 &&
            mount(source, target, NULL, MS_BIND, NULL) == 0) {
            close(fd);
        } else {
            if (fd >= 0) {
                close(fd);
            }
            agent_log(RESOLV_CONF " links to '%s', where no file can be made: name lookups will use no DNS server",
                      link);
        }
    } else {
        agent_log("cannot mount our resolv.conf over " RESOLV_CONF ": %s", strerror(errno));
    }
    close(resolv_fd);
}
