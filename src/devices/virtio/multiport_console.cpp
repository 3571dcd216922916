#include "devices/virtio/multiport_console.hpp"

#include "devices/virtio/net/chain_io.hpp"
#include "memory/byte_span.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::virtio {

MultiportConsole::MultiportConsole(memory::GuestMemory& memory, std::vector<Port> ports) : memory_(memory)
{
    if (ports.empty() || ports.size() > kMaxPorts) {
        throw HostError(fmt::format("virtio-console: {} ports (1 to {})", ports.size(), kMaxPorts));
    }
    for (auto& port : ports) {
        const bool printable = std::all_of(port.name.begin(), port.name.end(), [](char c) { return c > ' ' && c < 0x7f; });
        if (port.name.empty() || port.name.size() > kMaxNameLength || !printable || !port.stream) {
            throw HostError(fmt::format("virtio-console: bad port '{}'", port.name));
        }
        PortState state;
        state.name = std::move(port.name);
        state.stream = std::move(port.stream);
        ports_.push_back(std::move(state));
    }
}

MultiportConsole::~MultiportConsole()
{
    if (context_ == nullptr) {
        return;
    }
    for (auto& port : ports_) {
        if (port.watched) {
            context_->unwatch(port.stream->fd());
        }
    }
}

std::vector<uint16_t> MultiportConsole::queue_max_sizes() const
{
    // Port 0, the control queues, then ports 1..n-1: two queues each.
    return std::vector<uint16_t>(2 * (ports_.size() + 1), kQueueSize);
}

void MultiportConsole::read_config(uint64_t offset, std::span<uint8_t> data)
{
    // struct virtio_console_config: cols, rows (u16, without F_SIZE unused), max_nr_ports (u32).
    std::array<uint8_t, 12> config{};
    const auto ports = static_cast<uint32_t>(ports_.size());
    std::memcpy(config.data() + 4, &ports, sizeof(ports));
    if (offset < config.size()) {
        std::copy_n(config.begin() + static_cast<std::ptrdiff_t>(offset),
                    std::min(data.size(), config.size() - static_cast<size_t>(offset)), data.begin());
    }
}

void MultiportConsole::attach(VirtioContext& context)
{
    context_ = &context;
    for (size_t i = 0; i < ports_.size(); ++i) {
        if (!context.watch(ports_[i].stream->fd(), 0, [this, i](uint32_t events) { on_stream_event(i, events); })) {
            throw HostError(fmt::format("virtio-console: cannot poll the stream of port '{}'", ports_[i].name));
        }
        ports_[i].watched = true;
    }
}

void MultiportConsole::activate(uint64_t features, std::span<VirtQueue> queues)
{
    queues_ = queues;
    active_ = true;
    multiport_ = (features & kConsoleFMultiport) != 0;
    if (!multiport_) {
        // 5.3.6: without MULTIPORT there is one port, open as soon as the driver is.
        ports_.front().ready = true;
        ports_.front().guest_open = true;
        receive(0);
    }
}

void MultiportConsole::reset()
{
    active_ = false;
    queues_ = {};
    pending_control_.clear();
    for (size_t i = 0; i < ports_.size(); ++i) {
        auto& port = ports_[i];
        port.ready = false;
        port.guest_open = false;
        port.rx_chain.reset();
        port.tx_chain.reset();
        port.tx_written = 0;
        update_watch(i);
    }
}

VirtQueue* MultiportConsole::queue(unsigned index)
{
    return index < queues_.size() && queues_[index].ready() ? &queues_[index] : nullptr;
}

void MultiportConsole::add_syscalls(util::SeccompPolicy& policy) const
{
    for (const auto& port : ports_) {
        port.stream->add_syscalls(policy);
    }
}

void MultiportConsole::queue_notify(unsigned index)
{
    if (!active_) {
        return;
    }
    if (multiport_ && index == kConsoleControlTransmitQueue) {
        handle_control();
        return;
    }
    if (multiport_ && index == kConsoleControlReceiveQueue) {
        flush_control();
        return;
    }
    for (size_t i = 0; i < ports_.size() && (i == 0 || multiport_); ++i) {
        if (index == console_receive_queue(static_cast<uint32_t>(i))) {
            receive(i);
        } else if (index == console_transmit_queue(static_cast<uint32_t>(i))) {
            transmit(i);
        }
    }
}

void MultiportConsole::on_stream_event(size_t port, uint32_t events)
{
    if (!active_) {
        return;
    }
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
        transmit(port);
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        receive(port);
    }
}

void MultiportConsole::update_watch(size_t index)
{
    auto& port = ports_[index];
    if (!port.watched) {
        return;
    }
    if (!port.stream_open) {
        // An ended stream polls EPOLLHUP for ever, whatever it is watched for.
        context_->unwatch(port.stream->fd());
        port.watched = false;
        return;
    }
    uint32_t events = 0;
    if (active_ && port.guest_open && port.rx_chain) {
        events |= EPOLLIN;
    }
    if (active_ && port.tx_chain) {
        events |= EPOLLOUT;
    }
    if (events != port.events && context_->modify_watch(port.stream->fd(), events)) {
        port.events = events;
    }
}

void MultiportConsole::stream_ended(size_t index)
{
    auto& port = ports_[index];
    if (!port.stream_open) {
        return;
    }
    port.stream_open = false;
    port.rx_chain.reset(); // never used: the driver gets it back with the next reset
    spdlog::debug("virtio-console: the host end of port '{}' closed", port.name);
    if (multiport_ && port.ready) {
        send_control(static_cast<uint32_t>(index), ConsoleEvent::PortOpen, 0);
        flush_control();
    }
    update_watch(index);
}

void MultiportConsole::receive(size_t index)
{
    auto& port = ports_[index];
    VirtQueue* rxq = queue(console_receive_queue(static_cast<uint32_t>(index)));
    if (!active_ || rxq == nullptr || !port.guest_open || !port.stream_open) {
        update_watch(index);
        return;
    }
    bool used = false;
    for (unsigned n = 0; n < kBurst; ++n) {
        if (!port.rx_chain) {
            port.rx_chain = rxq->pop();
            if (!port.rx_chain) {
                if (rxq->error()) {
                    return; // the transport resets the device
                }
                if (rxq->rearm_notifications()) {
                    continue; // buffers arrived meanwhile (2.7.10)
                }
                break; // the driver's next notification resumes it
            }
            if (writable_len(*port.rx_chain) == 0) {
                if (rxq->add_used(port.rx_chain->head(), 0)) {
                    return;
                }
                port.rx_chain.reset();
                used = true;
                continue;
            }
        }
        iov_.clear();
        if (!append_iovecs(memory_, *port.rx_chain, true, 0, iov_, kMaxIovecs)) {
            context_->device_error("receive buffer outside guest RAM");
            return;
        }
        const ssize_t got = port.stream->read(iov_);
        if (got == -EAGAIN) {
            break;
        }
        if (got <= 0) {
            stream_ended(index);
            break;
        }
        if (rxq->add_used(port.rx_chain->head(), static_cast<uint32_t>(got))) {
            return;
        }
        port.rx_chain.reset();
        port.stats.to_guest += static_cast<uint64_t>(got);
        used = true;
    }
    if (used) {
        context_->notify_used(console_receive_queue(static_cast<uint32_t>(index)));
    }
    update_watch(index);
}

void MultiportConsole::transmit(size_t index)
{
    auto& port = ports_[index];
    VirtQueue* txq = queue(console_transmit_queue(static_cast<uint32_t>(index)));
    if (!active_ || txq == nullptr) {
        return;
    }
    bool used = false;
    for (unsigned n = 0; n < kBurst; ++n) {
        if (!port.tx_chain) {
            port.tx_chain = txq->pop();
            port.tx_written = 0;
            if (!port.tx_chain) {
                if (txq->error()) {
                    return;
                }
                if (txq->rearm_notifications()) {
                    continue;
                }
                break;
            }
        }
        const uint64_t total = readable_len(*port.tx_chain);
        while (port.tx_written < total && port.stream_open) {
            iov_.clear();
            if (!append_iovecs(memory_, *port.tx_chain, false, port.tx_written, iov_, kMaxIovecs)) {
                context_->device_error("transmit buffer outside guest RAM");
                return;
            }
            const ssize_t put = port.stream->write(iov_);
            if (put == -EAGAIN) {
                update_watch(index); // resumed on EPOLLOUT, with the chain kept
                if (used) {
                    context_->notify_used(console_transmit_queue(static_cast<uint32_t>(index)));
                }
                return;
            }
            if (put <= 0) {
                stream_ended(index);
                break;
            }
            port.tx_written += static_cast<uint64_t>(put);
            port.stats.from_guest += static_cast<uint64_t>(put);
        }
        if (port.tx_written < total) {
            port.stats.dropped += total - port.tx_written;
        }
        if (txq->add_used(port.tx_chain->head(), 0)) {
            return;
        }
        port.tx_chain.reset();
        used = true;
    }
    if (used) {
        context_->notify_used(console_transmit_queue(static_cast<uint32_t>(index)));
    }
    update_watch(index);
}

void MultiportConsole::handle_control()
{
    VirtQueue* txq = queue(kConsoleControlTransmitQueue);
    if (txq == nullptr) {
        return;
    }
    bool used = false;
    do {
        while (auto chain = txq->pop()) {
            ConsoleControl message{};
            if (copy_from_chain(memory_, *chain, std::as_writable_bytes(std::span(&message, 1)))) {
                handle_control_message(message);
            } else {
                log_.warn("control message of {} bytes, less than 8", readable_len(*chain));
            }
            if (txq->add_used(chain->head(), 0)) {
                return;
            }
            used = true;
        }
        if (txq->error()) {
            return;
        }
    } while (txq->rearm_notifications());
    if (used) {
        context_->notify_used(kConsoleControlTransmitQueue);
    }
    flush_control();
}

void MultiportConsole::handle_control_message(const ConsoleControl& message)
{
    const auto event = static_cast<ConsoleEvent>(message.event);
    if (event == ConsoleEvent::DeviceReady) {
        if (message.value == 0) {
            log_.warn("the driver failed to set the device up (DEVICE_READY 0)");
            return;
        }
        for (uint32_t id = 0; id < ports_.size(); ++id) {
            send_control(id, ConsoleEvent::DeviceAdd, 1);
        }
        return;
    }
    if (message.id >= ports_.size()) {
        log_.warn("control message {} for port {}, which does not exist", message.event, message.id);
        return;
    }
    auto& port = ports_[message.id];
    switch (event) {
    case ConsoleEvent::PortReady:
        if (message.value == 0) {
            log_.warn("the driver failed to set port '{}' up", port.name);
            return;
        }
        port.ready = true;
        send_control(message.id, ConsoleEvent::PortName, 1, port.name);
        if (port.stream_open) {
            send_control(message.id, ConsoleEvent::PortOpen, 1);
        }
        return;
    case ConsoleEvent::PortOpen:
        port.guest_open = message.value != 0;
        log_.debug("the guest {} port '{}'", port.guest_open ? "opened" : "closed", port.name);
        if (port.guest_open) {
            receive(message.id);
        } else {
            update_watch(message.id);
        }
        return;
    default:
        log_.warn("control message {} is not one a driver sends", message.event);
        return;
    }
}

void MultiportConsole::send_control(uint32_t id, ConsoleEvent event, uint16_t value, const std::string& text)
{
    if (pending_control_.size() >= kMaxPendingControl) {
        log_.warn("control messages wait for receive buffers the driver does not give: dropped");
        return;
    }
    const ConsoleControl header{id, static_cast<uint16_t>(event), value};
    const auto bytes = memory::object_u8(header);
    std::vector<uint8_t> message(bytes.begin(), bytes.end());
    message.insert(message.end(), text.begin(), text.end());
    pending_control_.push_back(std::move(message));
}

void MultiportConsole::flush_control()
{
    VirtQueue* rxq = queue(kConsoleControlReceiveQueue);
    if (rxq == nullptr) {
        return;
    }
    bool used = false;
    while (!pending_control_.empty()) {
        auto chain = rxq->pop();
        if (!chain) {
            if (rxq->error() || !rxq->rearm_notifications()) {
                break;
            }
            continue;
        }
        const auto& message = pending_control_.front();
        const bool fits = copy_to_chain(memory_, *chain, std::as_bytes(std::span(message)));
        if (!fits) {
            log_.warn("control receive buffer of {} bytes is too small for a {}-byte message",
                                  writable_len(*chain), message.size());
        }
        if (rxq->add_used(chain->head(), fits ? static_cast<uint32_t>(message.size()) : 0)) {
            return;
        }
        pending_control_.pop_front();
        used = true;
    }
    if (used) {
        context_->notify_used(kConsoleControlReceiveQueue);
    }
}

} // namespace minivmm::virtio
