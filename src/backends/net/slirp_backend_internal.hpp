// What the two files of the libslirp back end share (slirp_backend.cpp: the stack, its host
// forwards and the frames; slirp_backend_loop.cpp: the event loop's turns, timers and
// libslirp's callbacks). Private to them.
#pragma once

#include "backends/net/libslirp.hpp"
#include "backends/net/slirp_backend.hpp"

#include <mutex>

namespace minivmm::backends {

// libslirp keeps process-wide state besides its instances (4.7: `curtime`, the clock every
// timer reads, written by each slirp_pollfds_poll; the resolver address cache), so calls into
// any instance are serialised: several VMs of one process run their stacks from their own I/O
// threads. The same mutex guards each back end's own state.
std::mutex& libslirp_mutex();

// libslirp writes to its sockets with send() and no MSG_NOSIGNAL: a host peer that closed its
// end raises SIGPIPE, which would end the whole process (QEMU ignores SIGPIPE process-wide; a
// library must not change the process's signal dispositions). SIGPIPE from a write is sent to
// the thread that wrote, so each thread that calls into libslirp (the I/O thread, a vCPU thread
// at DRIVER_OK) blocks it for itself, once: the write then fails with EPIPE, which libslirp
// handles, and the blocked signal stays pending on that thread without effect.
void block_sigpipe_in_this_thread();

// libslirp's callbacks (SlirpCb), `opaque` being the SlirpBackend. They run inside a call
// into libslirp, so with libslirp_mutex() held.
struct SlirpCallbacks {
    static const SlirpCb& table();
    static ssize_t send_packet(const void* buf, size_t len, void* opaque);
    static void guest_error(const char* msg, void* opaque);
    static int64_t clock_get_ns(void* opaque);
    static void* timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque);
    static void timer_free(void* timer, void* opaque);
    static void timer_mod(void* timer, int64_t expire_time_ms, void* opaque);
    static void register_poll_fd(int fd, void* opaque);
    static void unregister_poll_fd(int fd, void* opaque);
    static void notify(void* opaque);
    static int add_poll(int fd, int events, void* opaque);
    static int get_revents(int idx, void* opaque);
};

struct SlirpBackend::Timer {
    SlirpTimerId id = SLIRP_TIMER_RA;
    void* cb_opaque = nullptr;
    util::EventLoop::TimerId loop_timer = 0; // 0: not armed
    uint64_t generation = 0;                 // of the arming that loop_timer belongs to
    std::optional<int64_t> expire_ms;        // the last timer_mod, kept until attach()
};

} // namespace minivmm::backends
