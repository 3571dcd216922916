// Work that runs around every turn of the I/O thread's event loop, for a library that keeps
// its own descriptors and deadlines and must be asked before each wait and told after it
// (libslirp: slirp_pollfds_fill before poll(), slirp_pollfds_poll after; glib calls the two
// steps of a GSource "prepare" and "dispatch"). The source watches its descriptors through
// the loop's FdPoller as any device does; these two calls only frame the wait.
#pragma once

#include <chrono>
#include <optional>

namespace minivmm::util {

class PollSource {
public:
    virtual ~PollSource() = default;
    // Before the loop waits, every turn: bring the watched descriptors up to date and say
    // how long the loop may sleep at most (nullopt: no limit of this source's own).
    [[nodiscard]] virtual std::optional<std::chrono::milliseconds> prepare() = 0;
    // After the wait, every turn (also when nothing was ready or the wait timed out), once
    // the handlers of the descriptors that were ready have run.
    virtual void dispatch() = 0;
};

} // namespace minivmm::util
