#include "memory/mmap_region.hpp"

#include "util/sys_error.hpp"

#include <sys/mman.h>

namespace minivmm::memory {

MmapRegion MmapRegion::anonymous(uint64_t size)
{
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (addr == MAP_FAILED) {
        util::throw_sys_error(fmt::format("mmap of {} MiB of guest RAM", size >> 20));
    }
    // Guest RAM must never end up in a core dump of the VMM (it can be large and private).
    ::madvise(addr, size, MADV_DONTDUMP);
    return MmapRegion(static_cast<std::byte*>(addr), size);
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
