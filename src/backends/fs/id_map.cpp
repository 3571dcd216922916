#include "backends/fs/id_map.hpp"

#include <charconv>

namespace minivmm::backends {
namespace {

[[nodiscard]] bool in(uint32_t id, uint32_t first, uint32_t count) { return id >= first && id - first < count; }

[[nodiscard]] std::optional<uint32_t> number(std::string_view text)
{
    uint32_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return value;
}

} // namespace

uint32_t IdMap::to_guest(uint32_t host) const
{
    for (const auto& r : ranges_) {
        if (in(host, r.host, r.count)) {
            return r.guest + (host - r.host);
        }
    }
    return host;
}

uint32_t IdMap::to_host(uint32_t guest) const
{
    for (const auto& r : ranges_) {
        if (in(guest, r.guest, r.count)) {
            return r.host + (guest - r.guest);
        }
    }
    return guest;
}

std::optional<IdRange> parse_id_range(std::string_view text)
{
    const auto first = text.find(':');
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    const auto second = text.find(':', first + 1);
    const auto guest = number(text.substr(0, first));
    const auto host = number(text.substr(first + 1, second == std::string_view::npos ? std::string_view::npos
                                                                                    : second - first - 1));
    const auto count = second == std::string_view::npos ? std::optional<uint32_t>(1) : number(text.substr(second + 1));
    if (!guest || !host || !count || *count == 0 || *count - 1 > UINT32_MAX - *guest || *count - 1 > UINT32_MAX - *host) {
        return std::nullopt;
    }
    return IdRange{*guest, *host, *count};
}

} // namespace minivmm::backends
