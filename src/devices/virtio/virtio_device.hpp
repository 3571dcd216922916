// A virtio device model (virtio 1.2 chapter 5) as the virtio-mmio transport drives it.
// Device models know nothing of KVM or of MMIO: they see their queues, their config space
// and a VirtioContext for interrupts, errors and host fds. The transport serialises every
// call into a device (one mutex per device), so a device needs no locking of its own as
// long as it only runs from these entry points and from handlers registered through
// VirtioContext::watch().
#pragma once

#include "util/fd_poller.hpp"
#include "util/seccomp_filter.hpp"
#include "devices/virtio/virtqueue.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm::virtio {

// Device IDs (5, "Device Types").
inline constexpr uint32_t kDeviceIdNet = 1;
inline constexpr uint32_t kDeviceIdBlock = 2;
inline constexpr uint32_t kDeviceIdConsole = 3;

// Reserved feature bits (6) that the transport offers for every device.
inline constexpr uint64_t kFIndirectDesc = 1ULL << 28;
inline constexpr uint64_t kFEventIdx = 1ULL << 29;
inline constexpr uint64_t kFVersion1 = 1ULL << 32;
inline constexpr uint64_t kTransportFeatures = kFIndirectDesc | kFEventIdx | kFVersion1;

// What a device may ask of its transport. Only valid from inside a device entry point or
// a watch() handler (the device lock is then held).
class VirtioContext {
public:
    virtual ~VirtioContext() = default;
    // Used buffers were added to `queue`: interrupt the driver if it wants one (EVENT_IDX
    // and NO_INTERRUPT respected). Also checks the queue for a driver protocol error.
    virtual void notify_used(unsigned queue) = 0;
    // The device configuration changed (bumps ConfigGeneration, config interrupt).
    virtual void config_changed() = 0;
    // The driver broke the protocol in a way the device cannot answer with a status code:
    // sets DEVICE_NEEDS_RESET, raises the config interrupt, logs once. The device must
    // stop processing until reset().
    virtual void device_error(std::string_view why) = 0;
    // Host fds the device wants polled on the I/O thread; handlers run under the device lock.
    [[nodiscard]] virtual bool watch(int fd, uint32_t events, util::FdPoller::Handler handler) = 0;
    [[nodiscard]] virtual bool modify_watch(int fd, uint32_t events) = 0;
    virtual void unwatch(int fd) = 0;
};

class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    [[nodiscard]] virtual uint32_t device_id() const = 0;
    // For log lines: "virtio-blk disk.img".
    [[nodiscard]] virtual std::string name() const = 0;
    // Device-type feature bits offered; the transport adds kTransportFeatures.
    [[nodiscard]] virtual uint64_t device_features() const = 0;
    // One entry per virtqueue: its maximum size (a power of two).
    [[nodiscard]] virtual std::vector<uint16_t> queue_max_sizes() const = 0;

    // Device-specific configuration space (4.2.2 offset 0x100 on). `data` is zeroed;
    // bytes beyond the config structure stay zero. Writes to read-only fields are ignored.
    virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;

    // Called once, when the transport is created: the context lives as long as the device.
    virtual void attach(VirtioContext& context) = 0;
    // DRIVER_OK: the driver finished set-up. `features` is what was negotiated; `queues`
    // are validated and stay valid until reset().
    virtual void activate(uint64_t features, std::span<VirtQueue> queues) = 0;
    // The driver notified queue `index` (runs on the I/O thread).
    virtual void queue_notify(unsigned index) = 0;
    // Device reset (status 0, 4.2.3.1) or VM teardown: finish or cancel in-flight work so
    // that, when this returns, the device will not touch guest memory until activate().
    virtual void reset() = 0;
    // The VM is stopping: make data durable (e.g. flush a disk). Returns why data the guest
    // wrote may not have reached stable storage (a failed fdatasync...), if it may not: the
    // run then does not end in success (docs/architecture.md "Exit codes"). Default: nothing.
    [[nodiscard]] virtual std::optional<std::string> quiesce() { return std::nullopt; }
    // The system calls this device and its back end make beyond the base lists of
    // vmm/seccomp_lists.cpp, on the threads that run them (util::kDeviceThreads: its code
    // runs on vCPU threads, the I/O thread and, at teardown, the main thread). Called once
    // when the VM is built with seccomp on (docs/architecture.md "Seccomp").
    virtual void add_syscalls(util::SeccompPolicy& /*policy*/) const {}
};

} // namespace minivmm::virtio
