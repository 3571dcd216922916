// SIGPIPE must never end minivmm (docs/architecture.md "Console output"): a write to a pipe
// whose reader went away raises it on the writing thread, and its default action kills the
// process before the guest's verdict is known, the devices torn down or the disks flushed.
// minivmm's own threads keep it blocked (the write then fails with EPIPE); a thread that is
// not minivmm's (the one that calls Vm::wait()) blocks it only around its writes, and takes a
// SIGPIPE those writes raised so that it is not delivered later.
#pragma once

#include <csignal>

namespace minivmm::util {

// Blocks SIGPIPE in the calling thread for the rest of its life (minivmm's I/O and vCPU
// threads). Cheap to call again.
void block_sigpipe_in_this_thread();

class ScopedSigpipeBlock final {
public:
    ScopedSigpipeBlock();
    ~ScopedSigpipeBlock();
    ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
    ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

private:
    sigset_t old_mask_{};
    bool was_pending_ = false;
};

} // namespace minivmm::util
