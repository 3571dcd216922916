// Guest <-> host user and group ids of a share (the uid=/gid= options): ranges that map a guest
// id to a host id and back; an id in no range is the same number on both sides (what a guest
// sees of an unmapped host file, and what a guest id becomes on the host).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <string_view>
#include <vector>

namespace minivmm::backends {

struct IdRange {
    uint32_t guest = 0;
    uint32_t host = 0;
    uint32_t count = 1;
};

class IdMap final {
public:
    IdMap() = default;
    explicit IdMap(std::vector<IdRange> ranges) : ranges_(std::move(ranges)) {}

    [[nodiscard]] uint32_t to_guest(uint32_t host) const;
    [[nodiscard]] uint32_t to_host(uint32_t guest) const;
    [[nodiscard]] const std::vector<IdRange>& ranges() const { return ranges_; }

private:
    std::vector<IdRange> ranges_;
};

// "GUEST:HOST" or "GUEST:HOST:COUNT" (decimal); nullopt if not that, COUNT is 0, or a range
// passes 2^32 - 1.
[[nodiscard]] std::optional<IdRange> parse_id_range(std::string_view text);

} // namespace minivmm::backends
