// Guest RAM: one anonymous host mapping split into regions around the 32-bit MMIO hole
// (docs/architecture.md "Guest physical memory map"). Every access goes through a
// bounds- and overflow-checked accessor; nothing outside src/memory holds a pointer into RAM.
#pragma once

#include "memory/guest_address.hpp"
#include "memory/mmap_region.hpp"

#include <minivmm/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace minivmm::memory {

// Thrown when the VMM itself (not a guest) asks for memory that is not RAM; code that
// handles guest-supplied addresses uses the non-throwing try_* accessors or contains().
struct GuestMemoryError : HostError {
    using HostError::HostError;
};

struct MemoryRegion {
    GuestAddress base;
    uint64_t size = 0;
    uint64_t host_offset = 0; // offset of this region inside the host mapping

    [[nodiscard]] uint64_t end() const { return base.value() + size; }
};

class GuestMemory final {
public:
    // RAM in `regions` (where they go is the platform's choice: arch::create_guest_ram()),
    // backed by one anonymous mapping. The regions must be in ascending, non-overlapping
    // guest order with host offsets 0, size0, size0+size1, ...; HostError otherwise.
    [[nodiscard]] static GuestMemory create(std::vector<MemoryRegion> regions);

    GuestMemory(GuestMemory&&) noexcept = default;
    GuestMemory& operator=(GuestMemory&&) noexcept = default;

    [[nodiscard]] std::span<const MemoryRegion> regions() const { return regions_; }
    [[nodiscard]] uint64_t size() const { return mapping_.size(); }
    // All of RAM reads as zeros again, as when created (its pages go back to the host): for
    // test harnesses and fuzz targets that reuse one guest RAM between runs.
    void discard_contents() { mapping_.discard(); }
    // Host address of a region, for registering it with KVM (KVM_SET_USER_MEMORY_REGION).
    [[nodiscard]] uint64_t host_address_of(const MemoryRegion& region) const;

    // True when [addr, addr+len) lies within one RAM region (len 0 is allowed anywhere in RAM).
    [[nodiscard]] bool contains(GuestAddress addr, uint64_t len) const;

    // A checked view of [addr, addr+len): nullopt unless it lies inside one region.
    [[nodiscard]] std::optional<std::span<std::byte>> try_slice(GuestAddress addr, uint64_t len);
    [[nodiscard]] std::optional<std::span<const std::byte>> try_slice(GuestAddress addr, uint64_t len) const;
    // As try_slice, but throws GuestMemoryError: for addresses the VMM chose.
    [[nodiscard]] std::span<std::byte> slice(GuestAddress addr, uint64_t len);
    [[nodiscard]] std::span<const std::byte> slice(GuestAddress addr, uint64_t len) const;

    [[nodiscard]] bool try_read(GuestAddress addr, std::span<std::byte> out) const;
    [[nodiscard]] bool try_write(GuestAddress addr, std::span<const std::byte> in);
    void read(GuestAddress addr, std::span<std::byte> out) const;
    void write(GuestAddress addr, std::span<const std::byte> in);
    void fill(GuestAddress addr, uint64_t len, std::byte value);

    // Typed access, only for plain-data types.
    template <typename T>
    [[nodiscard]] std::optional<T> try_read_obj(GuestAddress addr) const
    {
        static_assert(std::is_trivially_copyable_v<T>);
        T value;
        if (!try_read(addr, std::as_writable_bytes(std::span(&value, 1)))) {
            return std::nullopt;
        }
        return value;
    }
    template <typename T>
    [[nodiscard]] bool try_write_obj(GuestAddress addr, const T& value)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        return try_write(addr, std::as_bytes(std::span(&value, 1)));
    }
    template <typename T>
    [[nodiscard]] T read_obj(GuestAddress addr) const
    {
        static_assert(std::is_trivially_copyable_v<T>);
        T value;
        read(addr, std::as_writable_bytes(std::span(&value, 1)));
        return value;
    }
    template <typename T>
    void write_obj(GuestAddress addr, const T& value)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        write(addr, std::as_bytes(std::span(&value, 1)));
    }

private:
    GuestMemory(MmapRegion mapping, std::vector<MemoryRegion> regions);
    [[nodiscard]] const MemoryRegion* find(GuestAddress addr, uint64_t len) const;

    MmapRegion mapping_;
    std::vector<MemoryRegion> regions_;
};

} // namespace minivmm::memory
