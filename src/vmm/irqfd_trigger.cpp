#include "vmm/irqfd_trigger.hpp"

#include "util/sys_error.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace minivmm::vmm {

IrqfdTrigger::IrqfdTrigger() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!fd_) {
        util::throw_sys_error("eventfd (irqfd)");
    }
}

void IrqfdTrigger::trigger()
{
    const uint64_t one = 1;
    // EAGAIN only when the counter is saturated: an interrupt is pending anyway.
    [[maybe_unused]] const ssize_t n = ::write(fd_.get(), &one, sizeof(one));
}

} // namespace minivmm::vmm
