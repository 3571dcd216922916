// The test guest's disk write pattern (tests/guest/README.md, `blk-write`): a 32-bit xorshift
// with state = seed, each state emitted as a little-endian word; what a test expects to find
// in the image afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace minivmm::test {

inline std::vector<std::byte> xorshift_pattern(uint32_t seed, size_t bytes)
{
    std::vector<std::byte> out;
    out.reserve(bytes);
    uint32_t x = seed;
    while (out.size() < bytes) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        for (int i = 0; i < 4; ++i) {
            out.push_back(static_cast<std::byte>(x >> (8 * i)));
        }
    }
    return out;
}

} // namespace minivmm::test
