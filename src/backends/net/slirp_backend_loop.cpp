// The libslirp back end's life on the event loop: before each wait the sockets libslirp
// wants watched are brought up to date in the back end's epoll set, after it libslirp is told
// what became ready; its timers are loop timers; and libslirp's callbacks.
#include "backends/net/slirp_backend.hpp"

#include "backends/net/slirp_backend_internal.hpp"
#include "util/sys_error.hpp"

#include <spdlog/spdlog.h>

#include <pthread.h>
#include <sys/epoll.h>

#include <array>
#include <csignal>

namespace minivmm::backends {
namespace {

constexpr size_t kEpollBatch = 64;

uint32_t to_epoll(int slirp_events)
{
    uint32_t events = 0;
    events |= (slirp_events & SLIRP_POLL_IN) != 0 ? EPOLLIN : 0U;
    events |= (slirp_events & SLIRP_POLL_OUT) != 0 ? EPOLLOUT : 0U;
    events |= (slirp_events & SLIRP_POLL_PRI) != 0 ? EPOLLPRI : 0U;
    return events; // EPOLLERR and EPOLLHUP are always reported
}

int to_slirp(uint32_t events)
{
    int revents = 0;
    revents |= (events & EPOLLIN) != 0 ? SLIRP_POLL_IN : 0;
    revents |= (events & EPOLLOUT) != 0 ? SLIRP_POLL_OUT : 0;
    revents |= (events & EPOLLPRI) != 0 ? SLIRP_POLL_PRI : 0;
    revents |= (events & EPOLLERR) != 0 ? SLIRP_POLL_ERR : 0;
    revents |= (events & EPOLLHUP) != 0 ? SLIRP_POLL_HUP : 0;
    return revents;
}

} // namespace

std::mutex& libslirp_mutex()
{
    static std::mutex mutex;
    return mutex;
}

void block_sigpipe_in_this_thread()
{
    thread_local bool blocked = false;
    if (!blocked) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
        blocked = true;
    }
}

// --- the event loop's turn ---------------------------------------------------------------

std::optional<std::chrono::milliseconds> SlirpBackend::prepare()
{
    block_sigpipe_in_this_thread();
    std::lock_guard lock(libslirp_mutex());
    ++turn_;
    polled_.clear();
    uint32_t timeout_ms = UINT32_MAX;
    LibSlirp::get().slirp_pollfds_fill(slirp_.get(), &timeout_ms, SlirpCallbacks::add_poll, this);
    // Sockets libslirp did not ask for this turn leave the set: watched for nothing, a socket
    // that hung up would still report EPOLLHUP on every turn.
    for (auto it = watches_.begin(); it != watches_.end();) {
        if (it->second.turn != turn_) {
            ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_DEL, it->first, nullptr);
            it = watches_.erase(it);
        } else {
            ++it;
        }
    }
    revents_.assign(polled_.size(), 0);
    if (timeout_ms == UINT32_MAX) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(timeout_ms);
}

int SlirpBackend::add_poll(int fd, int slirp_events)
{
    const size_t index = polled_.size();
    polled_.push_back(fd);
    uint32_t events = to_epoll(slirp_events);
    auto [it, added] = watches_.try_emplace(fd);
    Watch& watch = it->second;
    if (!added && watch.turn == turn_) {
        events |= watch.events; // the same descriptor twice in one turn
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (added) {
        if (::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            spdlog::warn("net {}: cannot watch libslirp's socket {}: {}", options_.name, fd, util::errno_text(errno));
            watches_.erase(it);
            return static_cast<int>(index);
        }
    } else if (watch.events != events && ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
        // Closed and reopened under the same number since the last turn: add it afresh.
        if (errno != ENOENT || ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            spdlog::warn("net {}: cannot watch libslirp's socket {}: {}", options_.name, fd, util::errno_text(errno));
            watches_.erase(it);
            return static_cast<int>(index);
        }
    }
    watch.events = events;
    watch.turn = turn_;
    watch.index = index;
    return static_cast<int>(index);
}

void SlirpBackend::dispatch()
{
    block_sigpipe_in_this_thread();
    std::lock_guard lock(libslirp_mutex());
    if (poll_ready_) {
        poll_ready_ = false;
        std::array<epoll_event, kEpollBatch> events{};
        const int n = ::epoll_wait(poll_epoll_.get(), events.data(), static_cast<int>(events.size()), 0);
        for (int i = 0; i < n; ++i) {
            const auto& event = events[static_cast<size_t>(i)];
            const auto it = watches_.find(event.data.fd);
            if (it != watches_.end() && it->second.turn == turn_ && it->second.index < revents_.size()) {
                revents_[it->second.index] = to_slirp(event.events);
            }
        }
    }
    LibSlirp::get().slirp_pollfds_poll(slirp_.get(), 0, SlirpCallbacks::get_revents, this);
}

void SlirpBackend::forget_fd(int fd)
{
    host_sockets_.erase(fd);
    const auto it = watches_.find(fd);
    if (it != watches_.end()) {
        ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); // still open: libslirp closes it next
        watches_.erase(it);
    }
}

void SlirpBackend::arm(Timer& timer)
{
    if (loop_ == nullptr || !timer.expire_ms) {
        return;
    }
    if (timer.loop_timer != 0) {
        loop_->cancel_timer(timer.loop_timer);
    }
    const uint64_t generation = ++timer.generation;
    const auto deadline = util::EventLoop::Clock::time_point(std::chrono::milliseconds(*timer.expire_ms));
    Timer* raw = &timer;
    timer.loop_timer = loop_->add_timer(deadline, [this, raw, generation] {
        block_sigpipe_in_this_thread();
        std::lock_guard lock(libslirp_mutex());
        const auto it = timers_.find(raw);
        if (it == timers_.end() || it->second->generation != generation) {
            return; // freed, or re-armed since
        }
        raw->loop_timer = 0;
        LibSlirp::get().slirp_handle_timer(slirp_.get(), raw->id, raw->cb_opaque);
    });
}

// --- libslirp's callbacks ------------------------------------------------------------

ssize_t SlirpCallbacks::send_packet(const void* buf, size_t len, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    self->queue_for_guest(std::span(static_cast<const uint8_t*>(buf), len));
    return static_cast<ssize_t>(len);
}

void SlirpCallbacks::guest_error(const char* msg, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    uint64_t suppressed = 0;
    if (self->guest_log_.allow(suppressed)) {
        spdlog::warn("net {}: the guest: {} ({} more not logged)", self->options_.name, msg, suppressed);
    }
}

int64_t SlirpCallbacks::clock_get_ns(void*)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(util::EventLoop::Clock::now().time_since_epoch())
        .count();
}

void* SlirpCallbacks::timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    auto timer = std::make_unique<SlirpBackend::Timer>();
    timer->id = id;
    timer->cb_opaque = cb_opaque;
    SlirpBackend::Timer* raw = timer.get();
    self->timers_.emplace(raw, std::move(timer));
    return raw;
}

void SlirpCallbacks::timer_free(void* timer, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    const auto it = self->timers_.find(static_cast<SlirpBackend::Timer*>(timer));
    if (it == self->timers_.end()) {
        return;
    }
    if (self->loop_ != nullptr && it->second->loop_timer != 0) {
        self->loop_->cancel_timer(it->second->loop_timer);
    }
    self->timers_.erase(it);
}

void SlirpCallbacks::timer_mod(void* timer, int64_t expire_time_ms, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    const auto it = self->timers_.find(static_cast<SlirpBackend::Timer*>(timer));
    if (it == self->timers_.end()) {
        return;
    }
    it->second->expire_ms = expire_time_ms;
    self->arm(*it->second);
}

void SlirpCallbacks::register_poll_fd(int fd, void* opaque)
{
    // Counted only: the sockets to watch are the ones slirp_pollfds_fill names on each turn.
    if (fd >= 0) { // libslirp 4.7's udp_attach registers -1 when socket() failed
        static_cast<SlirpBackend*>(opaque)->host_sockets_.insert(fd);
    }
}

void SlirpCallbacks::unregister_poll_fd(int fd, void* opaque) { static_cast<SlirpBackend*>(opaque)->forget_fd(fd); }

void SlirpCallbacks::notify(void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    if (self->loop_ != nullptr) {
        self->loop_->wake();
    }
}

int SlirpCallbacks::add_poll(int fd, int events, void* opaque)
{
    return static_cast<SlirpBackend*>(opaque)->add_poll(fd, events);
}

int SlirpCallbacks::get_revents(int idx, void* opaque)
{
    const auto* self = static_cast<const SlirpBackend*>(opaque);
    return idx >= 0 && static_cast<size_t>(idx) < self->revents_.size() ? self->revents_[static_cast<size_t>(idx)] : 0;
}

const SlirpCb& SlirpCallbacks::table()
{
    // libslirp keeps the pointer: one table for every instance, for the life of the process.
    static const SlirpCb table = [] {
        SlirpCb cb{};
        cb.send_packet = send_packet;
        cb.guest_error = guest_error;
        cb.clock_get_ns = clock_get_ns;
        cb.timer_free = timer_free;
        cb.timer_mod = timer_mod;
        cb.register_poll_fd = register_poll_fd;
        cb.unregister_poll_fd = unregister_poll_fd;
        cb.notify = notify;
        cb.timer_new_opaque = timer_new_opaque; // SlirpConfig version 4: used instead of timer_new
        return cb;
    }();
    return table;
}

} // namespace minivmm::backends
