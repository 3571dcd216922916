// An Ethernet MAC address: parsing and printing "52:54:00:12:34:56", and the random
// locally administered unicast address a NIC gets when none is configured.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace minivmm::backends {

class MacAddress final {
public:
    using Bytes = std::array<uint8_t, 6>;

    constexpr MacAddress() = default;
    constexpr explicit MacAddress(const Bytes& bytes) : bytes_(bytes) {}

    // Six two-digit hex numbers separated by ':' (either case); nullopt otherwise.
    [[nodiscard]] static std::optional<MacAddress> parse(std::string_view text);
    // 52:54:00:xx:xx:xx with random low bytes: the first octet 0x52 has the locally
    // administered bit set and the group bit clear (IEEE 802 universal/local, I/G bits).
    [[nodiscard]] static MacAddress random_local();

    [[nodiscard]] constexpr const Bytes& bytes() const { return bytes_; }
    // The group (multicast) bit: such an address cannot name one NIC.
    [[nodiscard]] constexpr bool is_multicast() const { return (bytes_[0] & 1U) != 0; }
    [[nodiscard]] constexpr bool is_zero() const { return bytes_ == Bytes{}; }
    // "52:54:00:12:34:56"
    [[nodiscard]] std::string to_string() const;

    constexpr bool operator==(const MacAddress&) const = default;

private:
    Bytes bytes_{};
};

} // namespace minivmm::backends
