// The control messages of a virtio-console device with VIRTIO_CONSOLE_F_MULTIPORT (virtio
// 1.2 section 5.3.6.2, "Multiport Device Operation"): struct virtio_console_control on the
// control receiveq (device to driver) and transmitq (driver to device). A PORT_NAME message
// carries the name after the header, without a terminating NUL.
#pragma once

#include <cstdint>

namespace minivmm::virtio {

inline constexpr uint64_t kConsoleFMultiport = 1ULL << 1;

enum class ConsoleEvent : uint16_t {
    DeviceReady = 0, // driver: it is ready (value 1) or failed (0)
    DeviceAdd = 1,   // device: port `id` exists
    DeviceRemove = 2,
    PortReady = 3,   // driver: port `id` is set up (value 1) or failed (0)
    ConsolePort = 4, // device: port `id` is a console
    Resize = 5,
    PortOpen = 6,    // both ways: the port's end is open (1) or closed (0)
    PortName = 7,    // device: the port's name follows
};

// struct virtio_console_control (little-endian).
struct ConsoleControl {
    uint32_t id;
    uint16_t event;
    uint16_t value;
};
static_assert(sizeof(ConsoleControl) == 8);

// Queue indexes (5.3.2): port 0 at 0/1, the control queues at 2/3, port n >= 1 at 2n+2/2n+3.
[[nodiscard]] constexpr unsigned console_receive_queue(uint32_t port) { return port == 0 ? 0 : 2 * port + 2; }
[[nodiscard]] constexpr unsigned console_transmit_queue(uint32_t port) { return console_receive_queue(port) + 1; }
inline constexpr unsigned kConsoleControlReceiveQueue = 2;
inline constexpr unsigned kConsoleControlTransmitQueue = 3;

} // namespace minivmm::virtio
