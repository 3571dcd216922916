// RAII owner of an anonymous host mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace minivmm::memory {

// Whether a mapping asks the host for transparent huge pages (2 MiB on x86-64).
enum class HugePages {
    Off,         // 4 KiB pages: the host commits memory 4 KiB at a time as it is touched
    Transparent, // 2 MiB-aligned and MADV_HUGEPAGE: one fault (and, for guest RAM, one EPT/NPT
                 // entry) per 2 MiB where the host has THP enabled; 4 KiB pages where it has not
};

class MmapRegion final {
public:
    static constexpr uint64_t kHugePageSize = uint64_t{2} << 20;

    MmapRegion() = default;
    // Anonymous, private, MAP_NORESERVE: pages are committed only when they are touched.
    // `what` names the memory in errors ("mmap of 512 MiB for guest RAM: ...").
    [[nodiscard]] static MmapRegion anonymous(uint64_t size, HugePages huge_pages = HugePages::Off,
                                              std::string_view what = "guest RAM");
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

    // Commits every page now, in one system call (MADV_POPULATE_WRITE, Linux 5.14), instead
    // of one page fault per page later: for a buffer that is about to be filled whole. A
    // no-op where the kernel lacks it.
    void populate() const;

private:
    MmapRegion(std::byte* addr, uint64_t size) : addr_(addr), size_(size) {}
    void unmap() noexcept;

    std::byte* addr_ = nullptr;
    uint64_t size_ = 0;
};

} // namespace minivmm::memory
