// A name the guest gives for one directory entry (LOOKUP, CREATE, RENAME...): checked before any
// system call sees it. Names are single components: never empty, ".", "..", never containing
// '/' or NUL, at most NAME_MAX bytes. Resolution relative to the parent's O_PATH fd then cannot
// leave the parent.
#pragma once

#include "backends/fs/fs_result.hpp"

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace minivmm::backends {

// A checked component, NUL-terminated for the system call, held by value (the guest's copy
// may change under us).
class FsName final {
public:
    // From the bytes of a request (a NUL-terminated string, possibly followed by more).
    // EINVAL: no NUL within the bytes, empty, ".", "..", or contains '/'; ENAMETOOLONG: over NAME_MAX.
    [[nodiscard]] static FsResult<FsName> parse(std::span<const std::byte> bytes);
    // As parse, from text without a terminating NUL (tests, the server's own names).
    [[nodiscard]] static FsResult<FsName> from(std::string_view text);

    [[nodiscard]] const char* c_str() const { return chars_.data(); }
    [[nodiscard]] std::string_view view() const { return {chars_.data(), size_}; }
    [[nodiscard]] size_t size() const { return size_; }
    // Bytes the name took in the request, with its NUL.
    [[nodiscard]] size_t wire_size() const { return size_ + 1; }

private:
    FsName() = default;
    std::array<char, 256> chars_{};
    size_t size_ = 0;
};

} // namespace minivmm::backends
