// Where a virtio-rng device's random bytes come from. The host's kernel CSPRNG
// (HostEntropy: getrandom(2)) in a VM; tests and fuzz targets put in their own.
#pragma once

#include <cstddef>
#include <span>

namespace minivmm::backends {

class EntropySource {
public:
    virtual ~EntropySource() = default;
    // Fills all of `out` with random bytes; throws HostError when the host cannot.
    virtual void fill(std::span<std::byte> out) = 0;

protected:
    EntropySource() = default;
    EntropySource(const EntropySource&) = default;
    EntropySource& operator=(const EntropySource&) = default;
};

// getrandom(2) with no flags: the kernel's CSPRNG, as /dev/urandom once the host's pool is
// initialised (before that, early in the host's boot, it blocks until it is: a VMM never
// hands out bytes the host itself would not trust). Interrupted reads are resumed.
class HostEntropy final : public EntropySource {
public:
    void fill(std::span<std::byte> out) override;
};

} // namespace minivmm::backends
