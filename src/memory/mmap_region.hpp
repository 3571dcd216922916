// RAII owner of an anonymous host mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace minivmm::memory {

class MmapRegion final {
public:
    MmapRegion() = default;
    // Anonymous, private, MAP_NORESERVE: pages are committed only when the guest touches them.
    [[nodiscard]] static MmapRegion anonymous(uint64_t size);
    MmapRegion(const MmapRegion&) = delete;
    MmapRegion& operator=(const MmapRegion&) = delete;
    MmapRegion(MmapRegion&& other) noexcept
        : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0))
    {
    }
    MmapRegion& operator=(MmapRegion&& other) noexcept;
    ~MmapRegion();

    [[nodiscard]] std::byte* data() const { return addr_; }
    [[nodiscard]] uint64_t size() const { return size_; }
    // Gives every page back to the kernel: the mapping reads as zeros again, as when made.
    void discard() const;

private:
    MmapRegion(std::byte* addr, uint64_t size) : addr_(addr), size_(size) {}
    void unmap() noexcept;

    std::byte* addr_ = nullptr;
    uint64_t size_ = 0;
};

} // namespace minivmm::memory
