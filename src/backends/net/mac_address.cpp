#include "backends/net/mac_address.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <random>

namespace minivmm::backends {

std::optional<MacAddress> MacAddress::parse(std::string_view text)
{
    // "xx:xx:xx:xx:xx:xx": 17 characters, a ':' after every pair but the last.
    if (text.size() != 17) {
        return std::nullopt;
    }
    Bytes bytes{};
    for (size_t i = 0; i < bytes.size(); ++i) {
        const size_t pos = i * 3;
        if (i > 0 && text[pos - 1] != ':') {
            return std::nullopt;
        }
        const auto pair = text.substr(pos, 2);
        const bool hex = std::all_of(pair.begin(), pair.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        });
        if (!hex || std::from_chars(pair.data(), pair.data() + 2, bytes[i], 16).ec != std::errc()) {
            return std::nullopt;
        }
    }
    return MacAddress(bytes);
}

MacAddress MacAddress::random_local()
{
    std::random_device random;
    std::uniform_int_distribution<unsigned> byte(0, 255);
    return MacAddress(Bytes{0x52, 0x54, 0x00, static_cast<uint8_t>(byte(random)), static_cast<uint8_t>(byte(random)),
                            static_cast<uint8_t>(byte(random))});
}

std::string MacAddress::to_string() const
{
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes_[0], bytes_[1], bytes_[2], bytes_[3],
                       bytes_[4], bytes_[5]);
}

} // namespace minivmm::backends
