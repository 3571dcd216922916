// A guest-physical address: a distinct type, so host pointers and guest addresses never mix.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>

namespace minivmm::memory {

class GuestAddress final {
public:
    constexpr GuestAddress() = default;
    constexpr explicit GuestAddress(uint64_t value) : value_(value) {}

    [[nodiscard]] constexpr uint64_t value() const { return value_; }

    // Overflow-checked offset: nullopt if the sum wraps past 2^64.
    [[nodiscard]] constexpr std::optional<GuestAddress> checked_add(uint64_t offset) const
    {
        uint64_t sum = 0;
        if (__builtin_add_overflow(value_, offset, &sum)) {
            return std::nullopt;
        }
        return GuestAddress(sum);
    }
    // Unchecked offset for addresses the VMM itself chose (constants of the memory map).
    [[nodiscard]] constexpr GuestAddress operator+(uint64_t offset) const { return GuestAddress(value_ + offset); }

    constexpr auto operator<=>(const GuestAddress&) const = default;

private:
    uint64_t value_ = 0;
};

} // namespace minivmm::memory
