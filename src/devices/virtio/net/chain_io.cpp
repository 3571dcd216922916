#include "devices/virtio/net/chain_io.hpp"

#include "memory/iovec.hpp"

#include <algorithm>

namespace minivmm::virtio {

uint64_t writable_len(const DescriptorChain& chain)
{
    uint64_t len = 0;
    for (const auto& buffer : chain.buffers()) {
        len += buffer.device_writable ? buffer.len : 0;
    }
    return len;
}

uint64_t readable_len(const DescriptorChain& chain) { return chain.total_len() - writable_len(chain); }

std::optional<uint64_t> append_iovecs(memory::GuestMemory& memory, const DescriptorChain& chain, bool writable,
                                      uint64_t skip, std::vector<iovec>& iov, size_t max_entries)
{
    uint64_t appended = 0;
    for (const auto& buffer : chain.buffers()) {
        if (iov.size() >= max_entries) {
            break;
        }
        if (buffer.device_writable != writable) {
            continue;
        }
        if (skip >= buffer.len) {
            skip -= buffer.len;
            continue;
        }
        const auto start = buffer.addr.checked_add(skip);
        const auto bytes = start ? memory.try_slice(*start, buffer.len - skip) : std::nullopt;
        if (!bytes) {
            return std::nullopt;
        }
        iov.push_back(memory::to_iovec(*bytes));
        appended += bytes->size();
        skip = 0;
    }
    return appended;
}

bool copy_from_chain(const memory::GuestMemory& memory, const DescriptorChain& chain, std::span<std::byte> out)
{
    for (const auto& buffer : chain.buffers()) {
        if (out.empty()) {
            break;
        }
        if (buffer.device_writable) {
            continue;
        }
        const size_t n = std::min<size_t>(out.size(), buffer.len);
        if (!memory.try_read(buffer.addr, out.first(n))) {
            return false;
        }
        out = out.subspan(n);
    }
    return out.empty();
}

bool copy_to_chain(memory::GuestMemory& memory, const DescriptorChain& chain, std::span<const std::byte> in)
{
    for (const auto& buffer : chain.buffers()) {
        if (in.empty()) {
            break;
        }
        if (!buffer.device_writable) {
            continue;
        }
        const size_t n = std::min<size_t>(in.size(), buffer.len);
        if (!memory.try_write(buffer.addr, in.first(n))) {
            return false;
        }
        in = in.subspan(n);
    }
    return in.empty();
}

} // namespace minivmm::virtio
