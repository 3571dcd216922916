// One way to call a KVM ioctl: retried on EINTR where that is safe, and on failure a
// HostError that names the ioctl and the errno text.
#pragma once

#include "util/sys_error.hpp"

#include <sys/ioctl.h>

#include <cerrno>

namespace minivmm::kvm {

template <typename Arg>
int kvm_ioctl(int fd, unsigned long request, const char* name, Arg arg)
{
    int ret = 0;
    do {
        ret = ::ioctl(fd, request, arg);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        util::throw_sys_error(name);
    }
    return ret;
}

inline int kvm_ioctl(int fd, unsigned long request, const char* name) { return kvm_ioctl(fd, request, name, 0UL); }

// Spell the request once: KVM_IOCTL(fd, KVM_CREATE_VM, 0) reports "KVM_CREATE_VM failed: ...".
#define MINIVMM_KVM_IOCTL(fd, request, ...)                                                                            \
    ::minivmm::kvm::kvm_ioctl((fd), (request), #request __VA_OPT__(, ) __VA_ARGS__)

} // namespace minivmm::kvm
