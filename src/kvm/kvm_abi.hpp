// The KVM ioctls whose argument ends in a flexible array, with their numbers and layouts
// spelled out here. Debian 12's uapi headers declare those arrays with
// __DECLARE_FLEX_ARRAY, which in C++ (before the kernel's fix for C++) wraps them in a
// struct holding an empty struct: sizeof(kvm_cpuid2) becomes 12, not 8, the `entries`
// member moves to offset 12, and the ioctl numbers built from sizeof(...) no longer match
// the kernel's. The kernel's ABI is a header of two u32s followed by the entries.
#pragma once

#include <linux/kvm.h>

#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace minivmm::kvm::abi {

struct ArrayHeader {
    uint32_t count; // nent / nmsrs
    uint32_t padding;
};
static_assert(sizeof(ArrayHeader) == 8);
static_assert(sizeof(kvm_cpuid_entry2) == 40);
static_assert(sizeof(kvm_msr_entry) == 16);

inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, ArrayHeader);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, ArrayHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, ArrayHeader);
inline constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, ArrayHeader); // kvm_irq_routing: nr, flags
static_assert(sizeof(kvm_irq_routing_entry) == 48);

// A kernel-layout buffer: ArrayHeader, then `capacity` entries of Entry.
template <typename Entry>
class FlexArrayBuffer final {
public:
    explicit FlexArrayBuffer(size_t capacity)
        : capacity_(capacity), storage_(std::make_unique<std::byte[]>(sizeof(ArrayHeader) + capacity * sizeof(Entry)))
    {
        set_count(static_cast<uint32_t>(capacity));
    }
    explicit FlexArrayBuffer(std::span<const Entry> entries) : FlexArrayBuffer(entries.size())
    {
        std::memcpy(storage_.get() + sizeof(ArrayHeader), entries.data(), entries.size_bytes());
    }

    [[nodiscard]] void* data() { return storage_.get(); }
    [[nodiscard]] uint32_t count() const
    {
        ArrayHeader header{};
        std::memcpy(&header, storage_.get(), sizeof(header));
        return header.count;
    }
    void set_count(uint32_t count)
    {
        const ArrayHeader header{count, 0};
        std::memcpy(storage_.get(), &header, sizeof(header));
    }
    // The first count() entries (clamped to the capacity), copied out.
    [[nodiscard]] std::vector<Entry> entries() const
    {
        std::vector<Entry> out(std::min<size_t>(count(), capacity_));
        std::memcpy(out.data(), storage_.get() + sizeof(ArrayHeader), out.size() * sizeof(Entry));
        return out;
    }

private:
    size_t capacity_;
    std::unique_ptr<std::byte[]> storage_;
};

} // namespace minivmm::kvm::abi
