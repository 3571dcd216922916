#include "memory/mmap_region.hpp"

#include "util/sys_error.hpp"

#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // <linux/mman.h> of Linux 5.14
#endif

namespace minivmm::memory {
namespace {

constexpr int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

[[noreturn]] void throw_mmap_error(uint64_t size, std::string_view what)
{
    util::throw_sys_error(fmt::format("mmap of {} MiB for {}", size >> 20, what));
}

// `size` bytes starting on a 2 MiB boundary: a huge page can back guest memory only where
// the host address and the guest address agree modulo 2 MiB, and guest RAM starts at 0.
// Maps 2 MiB more than asked and gives back the unaligned head and the tail.
std::byte* map_huge_aligned(uint64_t size, std::string_view what)
{
    constexpr uint64_t kAlign = MmapRegion::kHugePageSize;
    if (size > UINT64_MAX - kAlign) {
        throw_mmap_error(size, what);
    }
    void* raw = ::mmap(nullptr, size + kAlign, PROT_READ | PROT_WRITE, kFlags, -1, 0);
    if (raw == MAP_FAILED) {
        throw_mmap_error(size, what);
    }
    // reinterpret_cast: alignment arithmetic on the address the kernel returned.
    const auto start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (start + kAlign - 1) & ~uintptr_t{kAlign - 1};
    if (aligned != start) {
        ::munmap(raw, aligned - start);
    }
    const uintptr_t tail = start + kAlign - aligned; // what is left after aligned + size
    if (tail != 0) {
        ::munmap(reinterpret_cast<void*>(aligned + size), tail);
    }
    auto* addr = reinterpret_cast<std::byte*>(aligned);
    // EINVAL where the kernel has no THP: the mapping then simply uses small pages.
    ::madvise(addr, size, MADV_HUGEPAGE);
    return addr;
}

} // namespace

MmapRegion MmapRegion::anonymous(uint64_t size, HugePages huge_pages, std::string_view what)
{
    std::byte* addr = nullptr;
    if (huge_pages == HugePages::Transparent) {
        addr = map_huge_aligned(size, what);
    } else {
        void* raw = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, kFlags, -1, 0);
        if (raw == MAP_FAILED) {
            throw_mmap_error(size, what);
        }
        addr = static_cast<std::byte*>(raw);
    }
    // Guest RAM (and a guest's images) must never end up in a core dump of the VMM: it can be
    // large and private.
    ::madvise(addr, size, MADV_DONTDUMP);
    return MmapRegion(addr, size);
}

void MmapRegion::populate() const
{
    if (addr_ != nullptr) {
        // EINVAL before Linux 5.14: the pages are then committed by faults as they are written.
        ::madvise(addr_, size_, MADV_POPULATE_WRITE);
    }
}

MmapRegion& MmapRegion::operator=(MmapRegion&& other) noexcept
{
    if (this != &other) {
        unmap();
        addr_ = std::exchange(other.addr_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

MmapRegion::~MmapRegion() { unmap(); }

void MmapRegion::discard() const
{
    if (addr_ != nullptr && ::madvise(addr_, size_, MADV_DONTNEED) != 0) {
        util::throw_sys_error("madvise(MADV_DONTNEED) of guest RAM");
    }
}

void MmapRegion::unmap() noexcept
{
    if (addr_ != nullptr) {
        ::munmap(addr_, size_);
        addr_ = nullptr;
        size_ = 0;
    }
}

} // namespace minivmm::memory
