#include "initramfs/host_file.hpp"

#include "util/unique_fd.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::initramfs {

std::vector<uint8_t> read_host_file(const std::filesystem::path& path, std::string_view what, size_t limit)
{
    const auto fail = [&](std::string_view verb, int err) {
        return ConfigError(fmt::format("cannot {} {} '{}': {}", verb, what, path.string(), std::strerror(err)));
    };
    const util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw fail("open", errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw fail("read", errno);
    }
    if (S_ISDIR(st.st_mode)) {
        throw fail("read", EISDIR);
    }
    std::vector<uint8_t> data;
    // The file's size plus one byte (to see EOF), then grow: a file may change size meanwhile.
    size_t step = S_ISREG(st.st_mode) ? std::min<size_t>(static_cast<size_t>(st.st_size), limit) + 1 : 64 * 1024;
    size_t used = 0;
    for (;;) {
        if (used == data.size()) {
            if (used > limit) {
                throw ConfigError(fmt::format("{} '{}' is larger than {} bytes", what, path.string(), limit));
            }
            data.resize(used + step);
            step = 64 * 1024;
        }
        const ssize_t n = ::read(fd.get(), data.data() + used, data.size() - used);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw fail("read", errno);
        }
        if (n == 0) {
            break;
        }
        used += static_cast<size_t>(n);
    }
    if (used > limit) {
        throw ConfigError(fmt::format("{} '{}' is larger than {} bytes", what, path.string(), limit));
    }
    data.resize(used);
    return data;
}

} // namespace minivmm::initramfs
