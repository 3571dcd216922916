#include "support/file_contents.hpp"

#include "support/support_check.hpp"
#include "util/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::test {
namespace {

// Reads `path` into a container of one-byte elements, however long the file turns out to be.
template <typename Container>
Container read_whole(const std::filesystem::path& path)
{
    const util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    support_check(fd.valid(), "cannot open a file to read it");
    Container data;
    size_t used = 0;
    for (;;) {
        if (data.size() - used < 65536) {
            data.resize(std::max<size_t>(data.size() * 2, used + 65536));
        }
        const ssize_t n = ::read(fd.get(), data.data() + used, data.size() - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        support_check(n >= 0, "cannot read a file");
        if (n == 0) {
            break;
        }
        used += static_cast<size_t>(n);
    }
    data.resize(used);
    return data;
}

} // namespace

std::string file_contents(const std::filesystem::path& path) { return read_whole<std::string>(path); }

std::vector<std::byte> file_contents_bytes(const std::filesystem::path& path)
{
    return read_whole<std::vector<std::byte>>(path);
}

std::vector<uint8_t> file_contents_u8(const std::filesystem::path& path)
{
    return read_whole<std::vector<uint8_t>>(path);
}

} // namespace minivmm::test
