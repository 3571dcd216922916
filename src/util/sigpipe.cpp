#include "util/sigpipe.hpp"

#include <pthread.h>

#include <ctime>

namespace minivmm::util {
namespace {

sigset_t sigpipe_set()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    return set;
}

bool sigpipe_pending()
{
    sigset_t pending;
    sigemptyset(&pending);
    return ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

} // namespace

void block_sigpipe_in_this_thread()
{
    thread_local bool blocked = false;
    if (!blocked) {
        const sigset_t set = sigpipe_set();
        blocked = ::pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0;
    }
}

ScopedSigpipeBlock::ScopedSigpipeBlock()
{
    const sigset_t set = sigpipe_set();
    ::pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
    was_pending_ = sigpipe_pending();
}

ScopedSigpipeBlock::~ScopedSigpipeBlock()
{
    if (!was_pending_ && sigpipe_pending() && sigismember(&old_mask_, SIGPIPE) == 0) {
        // Raised by our writes (a write's SIGPIPE is sent to the writing thread): take it.
        const sigset_t set = sigpipe_set();
        const timespec now{};
        (void)::sigtimedwait(&set, nullptr, &now);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

} // namespace minivmm::util
