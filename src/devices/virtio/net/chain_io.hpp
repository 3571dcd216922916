// Moving bytes between a descriptor chain's buffers and the host: the chain's readable or
// writable part as iovecs for readv/writev, and small copies (a header) in and out. The
// chain walk already checked that every buffer lies in RAM; these re-check regardless.
#pragma once

#include "devices/virtio/descriptor_chain.hpp"
#include "memory/guest_memory.hpp"

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace minivmm::virtio {

// Bytes the device may write into `chain` (its device-writable buffers).
[[nodiscard]] uint64_t writable_len(const DescriptorChain& chain);

// Bytes the device may read from `chain` (its device-readable buffers).
[[nodiscard]] uint64_t readable_len(const DescriptorChain& chain);

// Appends the host view of the chain's readable (or writable) bytes, from byte `skip` of
// that part on, to `iov`, until `iov` holds `max_entries` (readv/writev take at most
// IOV_MAX). Returns the bytes appended, or nullopt if a buffer is not in RAM.
[[nodiscard]] std::optional<uint64_t> append_iovecs(memory::GuestMemory& memory, const DescriptorChain& chain,
                                                    bool writable, uint64_t skip, std::vector<iovec>& iov,
                                                    size_t max_entries);

// Fills `out` from the start of the chain's readable part; false if that is shorter.
[[nodiscard]] bool copy_from_chain(const memory::GuestMemory& memory, const DescriptorChain& chain,
                                   std::span<std::byte> out);

// Writes `in` at the start of the chain's writable part; false if that is shorter.
[[nodiscard]] bool copy_to_chain(memory::GuestMemory& memory, const DescriptorChain& chain,
                                 std::span<const std::byte> in);

} // namespace minivmm::virtio
