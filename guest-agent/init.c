/* The guest agent as PID 1: what `minivmm exec` boots into. In order:
 *   1. /dev (devtmpfs), /proc, /sys of the initramfs; logging to /dev/kmsg; the boot timer;
 *   2. the kernel modules of /etc/minivmm/agent.conf, in its order (dependencies first);
 *   3. the four ports of agent_wire.h, found by name;
 *   4. the network: each NIC of a user-mode network configured (net.c);
 *   5. the root: the virtio-fs share "root" read-only at /, each writable share at its path,
 *      /proc, /sys, /dev (devtmpfs, /dev/pts, /dev/shm), tmpfs on /tmp, /run and /var/tmp;
 *      then it becomes the root (the initramfs cannot be pivoted away: it is moved over), and
 *      with a network its /etc/resolv.conf names the network's DNS server (a bind mount);
 *   6. the session (session.c) until the host closes the control port; then power off.
 * A failure before the session is reported with FAILED when the control port is open (and
 * in the kernel log either way), and the guest powers off.
 *
 * agent.conf, one directive a line:
 *   module NAME             load /lib/modules/NAME.ko
 *   mount TAG ro|rw PATH    mount the virtio-fs share TAG at PATH (the rest of the line)
 *   hostname NAME
 *   net MAC ADDRESS/PREFIX GATEWAY|- DNS|-   configure the NIC with that MAC address (net.c)
 */
#define _GNU_SOURCE
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CONFIG "/etc/minivmm/agent.conf"
#define NEWROOT "/newroot"
#define MAX_MOUNTS 64
#define MAX_NICS 16
#define PORT_WAIT_MS 10000
/* docs/architecture.md: the guest writes 123 here when its userland starts. */
#define BOOT_TIMER_ADDR 0xc0000000UL

struct share {
    char tag[64];
    bool writable;
    char path[4096];
};

static char failure[MVM_MAX_FAILED_TEXT];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char text[MVM_MAX_FAILED_TEXT];
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    agent_log("%s", text);
    if (!failure[0]) {
        snprintf(failure, sizeof(failure), "%s", text);
    }
}

static void __attribute__((noreturn)) power_off(void)
{
    sync();
    reboot(RB_POWER_OFF);
    for (;;) {
        pause();
    }
}

static void mount_or_fail(const char *source, const char *target, const char *type, unsigned long flags,
                          const char *data)
{
    if (mount(source, target, type, flags, data) != 0) {
        fail("cannot mount %s (%s) on %s: %s", source, type, target, strerror(errno));
    }
}

static void boot_timer(void)
{
    int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    long page = sysconf(_SC_PAGESIZE);
    volatile uint8_t *p = mmap(NULL, (size_t)page, PROT_WRITE, MAP_SHARED, fd, (off_t)BOOT_TIMER_ADDR);
    if (p != MAP_FAILED) {
        *p = 123;
        munmap((void *)p, (size_t)page);
    }
    close(fd);
}

static void load_module(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/lib/modules/%s.ko", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("cannot open %s: %s", path, strerror(errno));
        return;
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) {
        fail("cannot load kernel module %s: %s", name, strerror(errno));
    }
    close(fd);
}

struct net_config {
    struct net_nic nics[MAX_NICS];
    int n;
};

/* Reads agent.conf: loads the modules as it goes, collects the shares and NICs. */
static int read_config(struct share *shares, int max, char *hostname, size_t hostname_len, struct net_config *net)
{
    FILE *f = fopen(CONFIG, "re");
    if (!f) {
        fail("cannot open %s: %s", CONFIG, strerror(errno));
        return 0;
    }
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') {
            line[--len] = 0;
        }
        char tag[64], mode[8];
        int used = 0;
        if (strncmp(line, "module ", 7) == 0) {
            load_module(line + 7);
        } else if (strncmp(line, "hostname ", 9) == 0) {
            snprintf(hostname, hostname_len, "%s", line + 9);
        } else if (strncmp(line, "net ", 4) == 0 && net->n < MAX_NICS) {
            char why[MVM_MAX_FAILED_TEXT];
            if (net_parse(line + 4, &net->nics[net->n], why, sizeof(why)) == 0) {
                ++net->n;
            } else {
                fail("%s: %s", CONFIG, why);
            }
        } else if (sscanf(line, "mount %63s %7s %n", tag, mode, &used) == 2 && used > 0 && n < max) {
            snprintf(shares[n].tag, sizeof(shares[n].tag), "%s", tag);
            shares[n].writable = strcmp(mode, "rw") == 0;
            snprintf(shares[n].path, sizeof(shares[n].path), "%s", line + used);
            ++n;
        } else if (line[0]) {
            fail("%s: cannot read the line '%s'", CONFIG, line);
        }
    }
    free(line);
    fclose(f);
    return n;
}

/* The port whose name is `name`, opened; -1 if it does not exist (yet). */
static int open_port(const char *name)
{
    DIR *dir = opendir("/sys/class/virtio-ports");
    if (!dir) {
        return -1;
    }
    int fd = -1;
    struct dirent *e;
    while (fd < 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[300], found[128] = "";
        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
        if (read_small_file(path, found, sizeof(found)) <= 0) {
            continue;
        }
        found[strcspn(found, "\n")] = 0;
        if (strcmp(found, name) == 0) {
            snprintf(path, sizeof(path), "/dev/%s", e->d_name);
            fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        }
    }
    closedir(dir);
    return fd;
}

static int find_ports(struct agent_ports *ports)
{
    const char *names[4] = {MVM_PORT_CONTROL, MVM_PORT_STDIN, MVM_PORT_STDOUT, MVM_PORT_STDERR};
    int *fds[4] = {&ports->control, &ports->in, &ports->out, &ports->err};
    for (int i = 0; i < 4; ++i) {
        *fds[i] = -1;
    }
    /* The driver adds the ports as the host announces them, just after the module loads. */
    for (int waited = 0; waited < PORT_WAIT_MS; ++waited) {
        bool all = true;
        for (int i = 0; i < 4; ++i) {
            if (*fds[i] < 0) {
                *fds[i] = open_port(names[i]);
            }
            all = all && *fds[i] >= 0;
        }
        if (all) {
            return 0;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return -1;
}

static void make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        fail("cannot make %s: %s", path, strerror(errno));
    }
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p: every missing directory of `path` (an absolute path). */
static void make_dirs(const char *path)
{
    char partial[4200];
    size_t len = strlen(path);
    if (len >= sizeof(partial)) {
        fail("path too long: %s", path);
        return;
    }
    memcpy(partial, path, len + 1);
    for (size_t i = 1; i <= len; ++i) {
        if (partial[i] == '/' || partial[i] == '\0') {
            const char saved = partial[i];
            partial[i] = '\0';
            make_dir(partial, 0755);
            partial[i] = saved;
        }
    }
}

static void mount_root(const struct share *shares, int n)
{
    char target[4200];
    bool have_root = false;
    for (int i = 0; i < n; ++i) {
        if (strcmp(shares[i].path, "/") == 0) {
            mount_or_fail(shares[i].tag, NEWROOT, "virtiofs", shares[i].writable ? 0 : MS_RDONLY, NULL);
            have_root = true;
        }
    }
    if (!have_root) {
        fail("%s names no share for /", CONFIG);
        return;
    }
    mount_or_fail("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_or_fail("sysfs", NEWROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_or_fail("devtmpfs", NEWROOT "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    make_dir(NEWROOT "/dev/pts", 0755);
    make_dir(NEWROOT "/dev/shm", 01777);
    mount_or_fail("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666");
    mount_or_fail("shm", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    /* What udev would add to /dev. */
    const char *links[][2] = {{"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"},
                              {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); ++i) {
        snprintf(target, sizeof(target), NEWROOT "/dev/%s", links[i][1]);
        if (symlink(links[i][0], target) != 0 && errno != EEXIST) {
            fail("cannot make %s: %s", target, strerror(errno));
        }
    }
    const char *tmps[][2] = {{"/tmp", "mode=1777"}, {"/run", "mode=0755"}, {"/var/tmp", "mode=1777"}};
    for (size_t i = 0; i < sizeof(tmps) / sizeof(tmps[0]); ++i) {
        snprintf(target, sizeof(target), NEWROOT "%s", tmps[i][0]);
        if (is_dir(target)) { /* a root without /var/tmp goes without */
            mount_or_fail("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, tmps[i][1]);
        }
    }
    /* The other shares after the tmpfs mounts, so that one under /tmp (a user's scratch
     * directory, the working directory) is not hidden by the guest's own /tmp; its mount point
     * is made there, in the tmpfs. */
    for (int i = 0; i < n; ++i) {
        if (strcmp(shares[i].path, "/") != 0) {
            snprintf(target, sizeof(target), NEWROOT "%s", shares[i].path);
            if (!is_dir(target)) {
                make_dirs(target);
            }
            mount_or_fail(shares[i].tag, target, "virtiofs", shares[i].writable ? 0 : MS_RDONLY, NULL);
        }
    }
}

static void switch_root(void)
{
    /* The initramfs's own mounts go; the new root is moved over / and becomes it. */
    umount2("/proc", MNT_DETACH);
    umount2("/sys", MNT_DETACH);
    umount2("/dev", MNT_DETACH);
    if (chdir(NEWROOT) != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 || chdir("/") != 0) {
        fail("cannot switch to the new root: %s", strerror(errno));
    }
}

/* Configures the NICs; returns the O_PATH descriptor of the resolv.conf to put in the new root
 * (-1: no DNS server). */
static int network_up(const struct net_config *net)
{
    uint32_t servers[MAX_NICS];
    int n_servers = 0;
    for (int i = 0; i < net->n; ++i) {
        char why[MVM_MAX_FAILED_TEXT];
        if (net_configure(&net->nics[i], why, sizeof(why)) != 0) {
            fail("%s", why);
        }
        if (net->nics[i].has_dns) {
            servers[n_servers++] = net->nics[i].dns;
        }
    }
    return n_servers > 0 ? net_write_resolv_conf(servers, n_servers) : -1;
}

static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        return;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
}

int main(void)
{
    if (getpid() != 1) {
        fprintf(stderr, "minivmm-agent: this is the /init of `minivmm exec`, not a program to run\n");
        return 2;
    }
    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    int kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (kmsg >= 0) {
        agent_log_to(kmsg, 1);
    }
    /* stdio of the agent itself: the console the kernel opened, or nothing. */
    for (int fd = 0; fd < 3; ++fd) {
        if (fcntl(fd, F_GETFD) < 0) {
            open("/dev/null", O_RDWR);
        }
    }
    boot_timer();
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct share shares[MAX_MOUNTS];
    char hostname[65] = "minivmm";
    static struct net_config net;
    int n = read_config(shares, MAX_MOUNTS, hostname, sizeof(hostname), &net);
    sethostname(hostname, strlen(hostname));
    loopback_up();
    int resolv_fd = failure[0] ? -1 : network_up(&net);

    struct agent_ports ports;
    if (find_ports(&ports) != 0) {
        agent_log("the ports %s, %s, %s and %s did not appear in %d ms%s%s", MVM_PORT_CONTROL, MVM_PORT_STDIN,
                  MVM_PORT_STDOUT, MVM_PORT_STDERR, PORT_WAIT_MS, failure[0] ? "; earlier: " : "", failure);
        power_off();
    }
    if (!failure[0]) {
        mount_root(shares, n);
    }
    if (!failure[0]) {
        switch_root();
    }
    if (!failure[0]) {
        net_finish_root(resolv_fd);
    }
    if (failure[0]) {
        send_failed(ports.control, failure);
        power_off();
    }
    int rc = agent_serve(&ports);
    if (rc != 0) {
        agent_log("the session with the host broke off");
    }
    power_off();
}
