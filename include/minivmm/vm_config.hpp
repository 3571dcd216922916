// Everything that describes one guest: a plain struct, validated before anything is built.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm {

inline constexpr uint64_t kMiB = 1024ULL * 1024;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// Where the guest's console (the COM1 UART) goes. Whatever the mode, the output is also
// kept in memory (Vm::console()) and input from Console::send() reaches the guest.
enum class ConsoleMode {
    Stdio,  // stdout, and stdin in raw mode when it is a terminal
    Stdout, // stdout only; stdin is left alone (test harnesses, CI)
    File,   // appended to `path`; no input
    None,   // not written anywhere (still kept in memory)
    Stderr, // stderr only (`minivmm exec --verbose`: stdout is the command's); no input
};

// Which guest device carries the console. The 8250 UART always exists (early boot
// messages); with Virtio a virtio-console device is added and the backend serves it.
enum class ConsoleDevice {
    Serial, // COM1, "console=ttyS0"
    Virtio, // virtio-console port 0, "console=hvc0"
};

struct ConsoleConfig {
    static constexpr std::size_t kDefaultCaptureLimit = 16 * kMiB;

    ConsoleMode mode = ConsoleMode::Stdio;
    std::filesystem::path path; // for ConsoleMode::File
    ConsoleDevice device = ConsoleDevice::Serial;
    // Also write the output to this file, truncated first (--console-log).
    std::optional<std::filesystem::path> log{};
    // Console::output() keeps the latest this many bytes; older output is dropped.
    std::size_t capture_limit = kDefaultCaptureLimit;
    // ECMAScript regular expressions searched in every console line (as grep does; a line
    // ends at '\n', a trailing '\r' is removed). The first line that matches ends the run:
    std::optional<std::string> exit_on{}; // ExitReason::ConsoleMatch, exit code 0
    std::optional<std::string> fail_on{}; // ExitReason::ConsoleFailure, exit code 126
};

enum class DiskCache {
    Writeback, // through the host page cache; guest flushes reach the disk via fdatasync
    None,      // O_DIRECT: bypass the host page cache
};

// How the I/O thread does a disk's I/O.
enum class DiskAio {
    Auto,    // io_uring where the kernel allows it (said once at info), else synchronous
    IoUring, // io_uring or refuse to start (where io_uring is disabled or filtered)
    Sync,    // synchronous preadv/pwritev/fdatasync on the I/O thread
};

inline constexpr size_t kDiskSerialMax = 20; // virtio-blk GET_ID: VIRTIO_BLK_ID_BYTES

// The image format of a disk.
enum class DiskFormat {
    Auto,  // qcow2 when the image starts with a qcow2 header, else raw; a guest may then not
           // write an image header into the first sector of a raw disk (QEMU's probing rule)
    Raw,
    Qcow2, // with its backing chain (qcow2 or raw files, opened read-only)
};

// One virtio-blk disk backed by an image file (raw or qcow2).
struct DiskConfig {
    std::filesystem::path path;
    bool readonly = false;
    std::string serial; // VIRTIO_BLK_T_GET_ID answer (at most 20 bytes)
    DiskCache cache = DiskCache::Writeback;
    DiskAio aio = DiskAio::Auto;
    DiskFormat format = DiskFormat::Auto;
    // The guest's writes go to a temporary overlay deleted at exit; the image is only read
    // (and may be shared with other VMMs doing the same).
    bool snapshot = false;
    // Lock the image (F_OFD_SETLK: shared when readonly, exclusive otherwise) so that two
    // VMMs cannot use it at once; a lock the filesystem refuses (ENOLCK on NFS...) refuses the
    // disk. false (lock=off): no lock, for filesystems without locks; then nothing stops a
    // second writer.
    bool lock = true;
};

using Ipv4AddressBytes = std::array<uint8_t, 4>; // network order: {10, 0, 2, 15}

// How a NIC reaches the network.
enum class NetMode {
    Tap,  // a host TAP device (NetConfig::tap): made beforehand by root, or CAP_NET_ADMIN
    User, // user-mode networking (libslirp) inside minivmm: no privileges (NetConfig::user)
};

enum class HostForwardProtocol { Tcp, Udp };

// A host port (or range) forwarded to the guest: QEMU's
// hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT.
struct HostForward {
    HostForwardProtocol protocol = HostForwardProtocol::Tcp;
    Ipv4AddressBytes host_address{};  // 0.0.0.0: every address of the host
    uint16_t host_port = 0;
    Ipv4AddressBytes guest_address{}; // 0.0.0.0: the first address DHCP hands out
    uint16_t guest_port = 0;
    // Ports host_port .. host_port + count - 1 to guest_port .. guest_port + count - 1.
    uint16_t count = 1;
};

// User-mode networking, with QEMU's -netdev user words and defaults: the guest is alone on
// a virtual network with a gateway (`host`) whose connections reach the host's loopback, a
// DNS forwarder to the host's resolver, and a DHCP server; the guest's connections leave as
// sockets of the minivmm process.
struct UserNetConfig {
    Ipv4AddressBytes network{10, 0, 2, 0}; // net=10.0.2.0/24
    unsigned prefix_length = 24;
    // Unset: QEMU's choice inside `network` (net | 0.0.2.2 / .3 / .15 under the mask:
    // 10.0.2.2, 10.0.2.3 and 10.0.2.15 for the default network).
    std::optional<Ipv4AddressBytes> host;       // host=
    std::optional<Ipv4AddressBytes> dns;        // dns=
    std::optional<Ipv4AddressBytes> dhcp_start; // dhcpstart=
    std::vector<HostForward> host_forwards;     // hostfwd=, repeatable
    // restrict=on: the guest reaches only the host (through `host`) and its forwarded ports.
    bool restrict = false;
    bool ipv6 = true; // ipv6=off: IPv4 only (on: fec0::/64, as QEMU)

    [[nodiscard]] Ipv4AddressBytes host_address() const;
    [[nodiscard]] Ipv4AddressBytes dns_address() const;
    [[nodiscard]] Ipv4AddressBytes dhcp_start_address() const;
};

// One virtio-net interface: on a host TAP device, or user-mode networking.
struct NetConfig {
    std::string tap;                           // interface name
    std::optional<std::array<uint8_t, 6>> mac; // random locally-administered when empty
    bool create = false;                       // create the TAP (and remove it on exit)
    NetMode mode = NetMode::Tap;               // User: `user` applies and `tap` stays empty
    UserNetConfig user{};
};

// How long the guest may keep what a share tells it (virtio-fs: FUSE entry and attribute
// timeouts, page cache).
enum class ShareCache {
    Auto,   // 1 s: a change made on the host shows in the guest within a second
    Always, // 1 day, file data and directories kept across opens: for trees nothing else changes
    Never,  // no caching: every access asks the host (direct I/O)
};

// A range of user or group ids mapped between guest and host: guest ids guest..guest+count-1
// are host ids host..host+count-1 and back. Ids in no range are the same number on both sides.
struct ShareIdRange {
    uint32_t guest = 0;
    uint32_t host = 0;
    uint32_t count = 1;
};

// A host directory shared with the guest over virtio-fs; in the guest: mount -t virtiofs TAG DIR.
struct ShareConfig {
    std::filesystem::path path;
    std::string tag; // at most 36 bytes; empty: "share<N>", N its index in VmConfig::shares
    bool readonly = false; // every change answers EROFS
    ShareCache cache = ShareCache::Auto;
    std::vector<ShareIdRange> uid_map;
    std::vector<ShareIdRange> gid_map;

    // The tag the guest mounts: `tag`, or "share<index>" when empty.
    [[nodiscard]] std::string effective_tag(size_t index) const
    {
        return tag.empty() ? "share" + std::to_string(index) : tag;
    }
};

inline constexpr size_t kShareTagMax = 36; // virtio-fs config: tag[36]

// "GUEST:HOST" or "GUEST:HOST:COUNT" as ShareIdRange takes it; nullopt when the text is not
// that, COUNT is 0 or a range passes 4294967295.
[[nodiscard]] std::optional<ShareIdRange> parse_share_id_range(std::string_view text);

using MacAddressBytes = std::array<uint8_t, 6>;
// "52:54:00:12:34:56" (hex digits of either case) as NetConfig::mac takes it; nullopt when
// the text is not six two-digit hex numbers separated by ':'.
[[nodiscard]] std::optional<MacAddressBytes> parse_mac_address(std::string_view text);

struct VmConfig {
    static constexpr const char* kDefaultCmdline = "console=ttyS0 reboot=k panic=-1";
    // With ConsoleDevice::Virtio: early messages on the UART until hvc0 takes over.
    static constexpr const char* kDefaultVirtioConsoleCmdline =
        "console=hvc0 earlycon=uart8250,io,0x3f8 reboot=k panic=-1";
    static constexpr uint64_t kMinMemory = 32 * kMiB;

    std::filesystem::path kernel;            // bzImage, or an ELF vmlinux with a PVH note
    std::optional<std::filesystem::path> initrd;
    std::string cmdline = kDefaultCmdline;
    uint64_t memory_bytes = 512 * kMiB;
    unsigned cpus = 1;
    ConsoleConfig console;
    std::vector<DiskConfig> disks; // virtio-blk devices, in order (guest sees vda, vdb, ...)
    std::vector<NetConfig> nets;   // virtio-net devices, in order
    // Describe the platform with ACPI tables (MADT, FADT power-off/reset, DSDT devices).
    // Off: only the MP table, for kernels booted with acpi=off or without ACPI support.
    bool acpi = true;
    std::optional<std::chrono::milliseconds> timeout; // the run ends with ExitReason::Timeout
    std::vector<ShareConfig> shares; // virtio-fs devices, in order (after the console's slot)
    // Back guest RAM with transparent huge pages (2 MiB, MADV_HUGEPAGE) where the host has THP
    // on ("always" or "madvise"): the guest's first touch of each 2 MiB costs one fault and one
    // EPT/NPT entry instead of 512, which cut the Debian guest's boot exits from ~34,000 to
    // ~6,000 (docs/boot-time.md). Off: 4 KiB pages, committed 4 KiB at a time, for the least
    // host memory per VM (a small guest that touches little of its RAM).
    bool transparent_huge_pages = true;
    // A virtio-rng device (the last virtio-mmio slot) that hands the guest random bytes from
    // the host's getrandom(): a guest's CRNG is ready as soon as its virtio_rng driver binds.
    bool rng = true;
    // seccomp-bpf allow-lists on minivmm's threads (docs/architecture.md "Seccomp"): a system
    // call outside its thread's list ends the process with one line naming it, exit 125.
    bool seccomp = true;

    // Every problem found, one line each (empty: valid). Checks what can be checked
    // without KVM: files exist and are readable, sizes and counts in range. Image contents
    // and KVM limits are checked by Vm::create.
    [[nodiscard]] std::vector<std::string> validate() const;
};

} // namespace minivmm
