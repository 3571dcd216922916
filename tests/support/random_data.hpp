// Reproducible pseudo-random test data: bytes that nothing compresses or aligns by accident,
// the same for the same seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace minivmm::test {

inline std::string random_string(size_t n, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::string data(n, '\0');
    for (auto& c : data) {
        c = static_cast<char>(rng());
    }
    return data;
}

} // namespace minivmm::test
