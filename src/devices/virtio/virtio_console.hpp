// virtio-console, one port (virtio 1.2 section 5.3): receiveq 0 and transmitq 1, no
// MULTIPORT control queues. Offers VIRTIO_CONSOLE_F_SIZE (80x25, or the host terminal's
// size) and VIRTIO_CONSOLE_F_EMERG_WRITE (a config write of one character is printed:
// what Linux's hvc uses before the queues are up).
// Output goes to a ConsoleOutput; input arrives through receive() from the VMM's input pump
// on any thread, is kept in a bounded buffer and moved into the guest's receive buffers on
// the I/O thread (an eventfd wakes it). Input stays buffered while the guest has no
// receive buffers posted; the pump stops reading once the buffer is full.
//
// Host memory a guest can make the device hold: kQueueSize x 16 + kInputBufferLimit bytes
// (68 KiB): one chain's buffer list at a time, at most kQueueSize x 16 bytes (4 KiB;
// descriptor_chain.hpp; test_virtio_console_bounds.cpp), freed before the next chain is
// popped, chains answered at once and none held; and the input buffer, filled by the host
// side, which a guest that posts no receive buffers leaves full (then the pump stops reading;
// test_virtio_console.cpp). Output is handed to the ConsoleOutput as it is read from guest
// memory, whatever its size (the capture and FdOutputQueue bound what they keep:
// test_console_bounds.cpp).
#pragma once

#include "devices/console_input.hpp"
#include "devices/console_output.hpp"
#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"
#include "util/unique_fd.hpp"

#include <deque>
#include <memory>
#include <mutex>

namespace minivmm::virtio {

inline constexpr uint64_t kConsoleFSize = 1ULL << 0;
inline constexpr uint64_t kConsoleFEmergWrite = 1ULL << 2;

// struct virtio_console_config (5.3.4).
struct ConsoleConfigSpace {
    uint16_t cols;
    uint16_t rows;
    uint32_t max_nr_ports;
    uint32_t emerg_wr;
};
static_assert(sizeof(ConsoleConfigSpace) == 12);

class VirtioConsole final : public VirtioDevice, public devices::ConsoleInput {
public:
    static constexpr unsigned kReceiveQueue = 0;
    static constexpr unsigned kTransmitQueue = 1;
    static constexpr uint16_t kQueueSize = 256;
    static constexpr size_t kInputBufferLimit = 64 * 1024;

    struct WindowSize {
        uint16_t cols = 80;
        uint16_t rows = 25;
    };

    VirtioConsole(memory::GuestMemory& memory, std::shared_ptr<devices::ConsoleOutput> output, WindowSize size);

    // VirtioDevice
    [[nodiscard]] uint32_t device_id() const override { return kDeviceIdConsole; }
    [[nodiscard]] std::string name() const override { return "virtio-console"; }
    [[nodiscard]] uint64_t device_features() const override { return kConsoleFSize | kConsoleFEmergWrite; }
    [[nodiscard]] std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void write_config(uint64_t offset, std::span<const uint8_t> data) override;
    void attach(VirtioContext& context) override;
    void activate(uint64_t features, std::span<VirtQueue> queues) override;
    void queue_notify(unsigned index) override;
    void reset() override;

    // ConsoleInput (any thread)
    std::size_t receive(std::span<const uint8_t> bytes) override;
    [[nodiscard]] bool can_receive() const override;

private:
    void transmit();
    void deliver_input();

    memory::GuestMemory& memory_;
    std::shared_ptr<devices::ConsoleOutput> output_;
    ConsoleConfigSpace config_{};
    VirtioContext* context_ = nullptr;
    std::span<VirtQueue> queues_;
    bool active_ = false;

    util::UniqueFd input_event_; // eventfd: receive() -> I/O thread
    mutable std::mutex input_mutex_;
    std::deque<uint8_t> input_;
};

} // namespace minivmm::virtio
