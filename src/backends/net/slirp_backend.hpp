// User-mode networking: a virtio-net packet back end on libslirp (libslirp.hpp), which is a
// TCP/IP stack in this process. The guest's frames go into the stack; its connections come
// out as ordinary sockets of this process (so no privilege, no TAP), and replies come back
// as frames. DHCP, DNS forwarding to the host's resolver, the host's loopback at the `host`
// address, host forwards (hostfwd) and restrict=on (restrict_policy.hpp) are the stack's.
//
// Driven from the VMM's one I/O thread (attach()): the back end is a poll source of the
// event loop (poll_source.hpp). Before every wait it runs slirp_pollfds_fill and brings the
// sockets libslirp wants watched up to date in an epoll set of its own, which the loop
// watches; after every wait slirp_pollfds_poll hands libslirp what that set reported (and
// runs libslirp's TCP timers). libslirp's timers (IPv6 router advertisements) are loop
// timers. A private epoll set, not the loop's: libslirp closes some sockets without telling
// (a hostfwd's listening socket), and a descriptor number it gave up may be reused by another
// part of minivmm, whose watch in the loop must never be touched from here.
//
// Frames: write_frame() applies restrict=on, finishes the offloads the driver negotiated
// (transmit_offload.hpp: checksums; TSO over IPv4 as one packet, over IPv6 as segments) and
// passes each packet to slirp_input. Frames the stack sends to the
// guest wait in a bounded queue (kMaxQueuedFrames/kMaxQueuedBytes; beyond that they are
// dropped and counted, as a full TAP queue drops, and TCP resends them) until the device
// reads them; an eventfd, fd(), is readable while the queue is not empty. Received frames are
// finished frames; with the driver's GUEST_CSUM they are marked DATA_VALID (libslirp computed
// every checksum), so the guest does not check them again.
//
// Every call into libslirp holds one mutex, process-wide: the device calls in from the I/O
// thread and, at DRIVER_OK, from a vCPU thread; several VMs of one process each have an I/O
// thread, and libslirp has process-wide state. libslirp's callbacks run inside those calls.
#pragma once

#include "backends/net/packet_backend.hpp"
#include "backends/net/restrict_policy.hpp"
#include "backends/net/user_net_options.hpp"
#include "util/event_loop.hpp"
#include "util/log_rate_limit.hpp"
#include "util/poll_source.hpp"
#include "util/unique_fd.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

struct Slirp; // libslirp's stack (<libslirp.h>, included by the .cpp files only)

namespace minivmm::backends {

// Counters, for tests and diagnostics.
struct UserNetStats {
    uint64_t tx_frames = 0;     // frames from the guest
    uint64_t tx_packets = 0;    // packets handed to the stack (a TSO frame is several)
    uint64_t tx_malformed = 0;  // dropped: offload request that cannot be carried out
    uint64_t tx_restricted = 0; // dropped or reset by restrict=on
    uint64_t tx_refused = 0;    // TCP connections reset: the guest holds max_host_sockets already
    uint64_t rx_frames = 0;     // frames the stack sent to the guest, queued
    uint64_t rx_dropped = 0;    // dropped: the queue was full
};

class SlirpBackend final : public PacketBackend, private util::PollSource {
public:
    static constexpr size_t kMaxQueuedFrames = 1024;
    static constexpr size_t kMaxQueuedBytes = 4 * 1024 * 1024;
    // The largest frame taken from the guest: an Ethernet header and a 64 KiB IP packet.
    static constexpr size_t kMaxFrameSize = 14 + 65535;

    // Makes the stack and binds every host forward. Throws ConfigError naming the forward when
    // a host port is taken or may not be bound, or when libslirp cannot be loaded.
    explicit SlirpBackend(UserNetOptions options);
    ~SlirpBackend() override;
    SlirpBackend(const SlirpBackend&) = delete;
    SlirpBackend& operator=(const SlirpBackend&) = delete;

    // Runs the stack on `loop` from its next turn on, until this object is destroyed (which
    // must happen while the loop does not run, or on its thread).
    void attach(util::EventLoop& loop);

    // PacketBackend
    [[nodiscard]] std::string name() const override { return options_.name; }
    [[nodiscard]] int fd() const override { return rx_ready_.get(); }
    [[nodiscard]] IoResult read_frame(std::span<const iovec> iov) override;
    [[nodiscard]] IoResult write_frame(std::span<const iovec> iov) override;
    [[nodiscard]] bool set_offloads(Offloads offloads) override;
    // libslirp's, on the I/O thread mostly: the guest's connections as host sockets (and
    // hostfwd's listening ones), its private epoll set, and /etc/resolv.conf, read again when
    // it changes, to forward DNS (read-only opens only).
    void add_syscalls(util::SeccompPolicy& policy) const override;

    [[nodiscard]] UserNetStats stats() const;

private:
    struct Timer;
    struct Watch {
        uint32_t events = 0;   // EPOLL* as registered in poll_epoll_
        uint64_t turn = 0;     // the last prepare() that asked for it
        size_t index = 0;      // in polled_ for that turn
    };

    // util::PollSource
    std::optional<std::chrono::milliseconds> prepare() override;
    void dispatch() override;

    void add_forwards();
    void input(std::span<const uint8_t> frame); // with libslirp_mutex() held
    void queue_for_guest(std::span<const uint8_t> frame);
    int add_poll(int fd, int slirp_events);
    void forget_fd(int fd);
    // A new TCP connection from the guest while it holds max_host_sockets: answered with a reset.
    [[nodiscard]] bool refuse_new_connection(std::span<const uint8_t> frame);
    void arm(Timer& timer);

    // libslirp's callbacks (slirp_backend.cpp), `opaque` being this.
    friend struct SlirpCallbacks;

    const UserNetOptions options_;
    RestrictPolicy restrict_policy_;
    util::EventLoop* loop_ = nullptr;

    util::UniqueFd rx_ready_;   // eventfd: readable while rx_queue_ holds frames
    util::UniqueFd poll_epoll_; // the sockets libslirp wants watched
    bool poll_ready_ = false;   // poll_epoll_ was readable this turn (loop thread only)
    std::unordered_map<int, Watch> watches_;
    std::unordered_set<int> host_sockets_; // registered by libslirp (register_poll_fd), not closed yet
    std::vector<int> polled_;  // fds of this turn's slirp_pollfds_fill, by index
    std::vector<int> revents_; // SLIRP_POLL_* per index, from this turn's wait
    uint64_t turn_ = 0;
    std::unordered_map<Timer*, std::unique_ptr<Timer>> timers_;

    bool rx_data_valid_ = false; // the driver takes DATA_VALID (GUEST_CSUM)
    std::deque<std::vector<uint8_t>> rx_queue_;
    size_t rx_queued_bytes_ = 0;
    std::vector<std::vector<uint8_t>> rx_spare_; // buffers of delivered frames, reused
    std::vector<uint8_t> tx_frame_;
    std::vector<uint8_t> tx_segment_;
    std::vector<uint8_t> tx_reset_;
    UserNetStats stats_;
    util::LogRateLimit guest_log_;

    // Last: destroyed first, while everything its callbacks touch still exists.
    struct SlirpDeleter {
        void operator()(Slirp* slirp) const;
    };
    std::unique_ptr<Slirp, SlirpDeleter> slirp_;
};

} // namespace minivmm::backends
