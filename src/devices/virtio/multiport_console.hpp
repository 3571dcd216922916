// virtio-console with VIRTIO_CONSOLE_F_MULTIPORT (virtio 1.2 section 5.3): named ports, each
// a byte stream between the guest (Linux: /dev/vportNpM, its name in
// /sys/class/virtio-ports/vportNpM/name) and a host ByteStream. What `minivmm exec` carries its
// command's stdio and its agent's control messages over (agent/agent_wire.h). The control
// queues run the handshake of 5.3.6.2: the driver says DEVICE_READY, the device announces each
// port (DEVICE_ADD), the driver sets each up (PORT_READY) and the device gives its name
// (PORT_NAME) and says the host's end is open (PORT_OPEN); the driver says when the guest
// opens or closes a port (PORT_OPEN). Left out: console ports (minivmm's console is the
// single-port VirtioConsole), resize, hot-unplug (DEVICE_REMOVE) and the emergency write.
// Without MULTIPORT negotiated only port 0 works, open from the start.
//
// Bytes move by readv/writev straight between guest buffers and the stream. Back-pressure
// both ways, nothing dropped:
//  - guest to host: a transmit chain the stream cannot take whole is kept with how much of it
//    was written; the rest goes when the stream polls writable (EPOLLOUT). Meanwhile the
//    guest's writes fill its ring and then wait.
//  - host to guest: while the guest has the port open and a receive buffer is held, the
//    stream is polled readable (EPOLLIN); with no buffer the device waits for the driver's
//    next notification. Linux drops what arrives on a port the guest has not opened, so
//    nothing is read from the stream before PORT_OPEN.
// A stream that ends (its other end closed) is PORT_OPEN 0 to the guest; writes to it are
// then dropped (counted), as to a disconnected port.
//
// Host memory a guest can make the device hold: per port one receive and one transmit chain
// (each at most kQueueSize x 16 bytes of buffer list, descriptor_chain.hpp) plus one chain of
// the control transmit queue at a time; at most kMaxPendingControl control messages of at
// most 8 + kMaxNameLength bytes wait for the driver's buffers (beyond that, DEVICE_READY or
// PORT_READY repeated by a hostile driver is ignored, with a rate-limited log line: util::GuestLog); and
// IOV_MAX iovecs.
#pragma once

#include "backends/stream/byte_stream.hpp"
#include "devices/virtio/console_control.hpp"
#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"
#include "util/guest_log.hpp"

#include <sys/uio.h>

#include <climits>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace minivmm::virtio {

struct ConsolePortStats {
    uint64_t to_guest = 0;   // bytes the guest received
    uint64_t from_guest = 0; // bytes the stream took
    uint64_t dropped = 0;    // bytes from the guest after the stream ended
};

class MultiportConsole final : public VirtioDevice {
public:
    static constexpr uint16_t kQueueSize = 256;
    static constexpr size_t kMaxPorts = 31; // the ports and control queues within 64 queues
    static constexpr size_t kMaxNameLength = 64;
    static constexpr size_t kMaxIovecs = IOV_MAX;
    static constexpr unsigned kBurst = 64; // chains per port and wake-up: no port starves the I/O thread
    // A whole handshake is 3 messages a port (DEVICE_ADD, PORT_NAME, PORT_OPEN).
    static constexpr size_t kMaxPendingControl = 4 * kMaxPorts + 8;

    struct Port {
        std::string name; // what the guest sees; 1-kMaxNameLength printable characters
        std::unique_ptr<backends::ByteStream> stream;
    };

    // Throws HostError for more than kMaxPorts ports, a bad name or no stream.
    MultiportConsole(memory::GuestMemory& memory, std::vector<Port> ports);
    ~MultiportConsole() override;

    // VirtioDevice
    [[nodiscard]] uint32_t device_id() const override { return kDeviceIdConsole; }
    [[nodiscard]] std::string name() const override { return "virtio-console (ports)"; }
    [[nodiscard]] uint64_t device_features() const override { return kConsoleFMultiport; }
    [[nodiscard]] std::vector<uint16_t> queue_max_sizes() const override;
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void write_config(uint64_t, std::span<const uint8_t>) override {}
    void attach(VirtioContext& context) override;
    void activate(uint64_t features, std::span<VirtQueue> queues) override;
    void queue_notify(unsigned index) override;
    void reset() override;
    // What the ports' streams call (the I/O thread moves the bytes; teardown closes them).
    void add_syscalls(util::SeccompPolicy& policy) const override;

    [[nodiscard]] ConsolePortStats stats(size_t port) const { return ports_.at(port).stats; }
    // Whether the guest has port `port` open (PORT_OPEN 1 and not closed since).
    [[nodiscard]] bool guest_open(size_t port) const { return ports_.at(port).guest_open; }

private:
    struct PortState {
        std::string name;
        std::unique_ptr<backends::ByteStream> stream;
        bool ready = false;      // PORT_READY from the driver
        bool guest_open = false; // PORT_OPEN from the driver
        bool stream_open = true; // the stream has not ended
        bool watched = false;    // registered with the poller
        uint32_t events = 0;     // what it is polled for
        std::optional<DescriptorChain> rx_chain; // held for the next bytes from the stream
        std::optional<DescriptorChain> tx_chain; // partly written to the stream
        uint64_t tx_written = 0;
        ConsolePortStats stats;
    };

    void on_stream_event(size_t port, uint32_t events);
    void receive(size_t port);
    void transmit(size_t port);
    void stream_ended(size_t port);
    void update_watch(size_t port);
    void handle_control();
    void handle_control_message(const ConsoleControl& message);
    void send_control(uint32_t id, ConsoleEvent event, uint16_t value, const std::string& text = "");
    void flush_control();
    [[nodiscard]] VirtQueue* queue(unsigned index);

    memory::GuestMemory& memory_;
    std::vector<PortState> ports_;
    VirtioContext* context_ = nullptr;
    std::span<VirtQueue> queues_;
    bool active_ = false;
    bool multiport_ = false;
    std::deque<std::vector<uint8_t>> pending_control_;
    std::vector<iovec> iov_;
    util::GuestLog log_{"virtio-console (ports)"}; // every line a driver can provoke
};

} // namespace minivmm::virtio
