#include "loader/kernel_loader.hpp"

#include "loader/boot_params.hpp"
#include "loader/bzimage.hpp"
#include "loader/image_bytes.hpp"
#include "loader/pvh_elf.hpp"
#include "util/unique_fd.hpp"
#include "arch/x86_64/layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::loader {

namespace {

// No image minivmm can load is larger than the RAM below the MMIO hole.
constexpr uint64_t kMaxImageSize = arch::kMmioHoleStart;
constexpr uint64_t kReadChunk = uint64_t{1} << 20;

} // namespace

KernelFormat detect_kernel_format(std::span<const std::byte> image)
{
    if (is_elf(image)) {
        return KernelFormat::PvhElf;
    }
    const auto boot_flag = read_struct<uint16_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, boot_flag));
    const auto hdrs = read_struct<uint32_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, header));
    if ((boot_flag && *boot_flag == kBootFlag) || (hdrs && *hdrs == kHdrSMagic)) {
        return KernelFormat::BzImage;
    }
    throw ConfigError("not a kernel image (neither a bzImage nor an ELF)");
}

LoadedKernel load_kernel(memory::GuestMemory& memory, const BootSpec& spec)
{
    switch (detect_kernel_format(spec.kernel)) {
    case KernelFormat::BzImage:
        return load_bzimage(memory, spec);
    case KernelFormat::PvhElf:
        return load_pvh_elf(memory, spec);
    }
    throw ConfigError("unknown kernel format");
}

std::vector<std::byte> read_image_file(const std::filesystem::path& path, std::string_view what)
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
    std::vector<std::byte> data;
    if (S_ISREG(st.st_mode)) {
        const uint64_t expected = std::min<uint64_t>(static_cast<uint64_t>(st.st_size), kMaxImageSize);
        data.reserve(static_cast<std::size_t>(expected + kReadChunk));
    }
    // Read to EOF rather than trusting st_size: pipes and files that change size work too.
    for (;;) {
        const std::size_t used = data.size();
        if (used >= kMaxImageSize) {
            throw ConfigError(fmt::format("{} '{}' is larger than {} MiB, more than a guest can hold below the MMIO "
                                          "hole",
                                          what, path.string(), kMaxImageSize >> 20));
        }
        data.resize(used + kReadChunk);
        const ssize_t n = ::read(fd.get(), data.data() + used, kReadChunk);
        if (n < 0) {
            const int err = errno;
            data.resize(used);
            if (err == EINTR) {
                continue;
            }
            throw fail("read", err);
        }
        data.resize(used + static_cast<std::size_t>(n));
        if (n == 0) {
            break;
        }
    }
    if (data.empty()) {
        throw ConfigError(fmt::format("{} '{}' is empty", what, path.string()));
    }
    return data;
}

} // namespace minivmm::loader
