#include "backends/fs/fs_name.hpp"

#include "backends/fs/fuse_wire.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::backends {

FsResult<FsName> FsName::from(std::string_view text)
{
    if (text.size() > kFuseNameMax) {
        return Errno{ENAMETOOLONG};
    }
    if (text.empty() || text == "." || text == ".." || text.find('/') != std::string_view::npos ||
        text.find('\0') != std::string_view::npos) {
        return Errno{EINVAL};
    }
    FsName name;
    std::copy(text.begin(), text.end(), name.chars_.begin());
    name.chars_[text.size()] = '\0';
    name.size_ = text.size();
    return name;
}

FsResult<FsName> FsName::parse(std::span<const std::byte> bytes)
{
    const auto nul = std::find(bytes.begin(), bytes.end(), std::byte{0});
    if (nul == bytes.end()) {
        return Errno{bytes.size() > kFuseNameMax ? ENAMETOOLONG : EINVAL};
    }
    const auto len = static_cast<size_t>(nul - bytes.begin());
    std::array<char, kFuseNameMax + 1> copy{};
    if (len > kFuseNameMax) {
        return Errno{ENAMETOOLONG};
    }
    std::memcpy(copy.data(), bytes.data(), len);
    return from(std::string_view(copy.data(), len));
}

} // namespace minivmm::backends
