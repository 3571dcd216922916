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
// How much the buffer grows by when the file turns out longer than fstat said (a pipe, or a
// file that grew). resize() zero-fills what it adds, so the step is what a small kernel read
// from a pipe costs in touched memory; a regular file is read into a buffer of its own size.
constexpr uint64_t kGrowChunk = uint64_t{64} << 10;

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
    // A regular file's buffer is its size plus one byte (the byte lets the next read see EOF
    // without growing it): nothing beyond the image is zero-filled. A fixed 1 MiB step used to
    // touch up to 1 MiB that was freed again at once, most of the peak RSS with a small kernel.
    std::vector<std::byte> data;
    std::size_t step = kGrowChunk;
    if (S_ISREG(st.st_mode)) {
        step = static_cast<std::size_t>(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), kMaxImageSize)) + 1;
    }
    // Read to EOF rather than trusting st_size: pipes and files that change size work too.
    std::size_t used = 0;
    for (;;) {
        if (used >= kMaxImageSize) {
            throw ConfigError(fmt::format("{} '{}' is larger than {} MiB, more than a guest can hold below the MMIO "
                                          "hole",
                                          what, path.string(), kMaxImageSize >> 20));
        }
        if (used == data.size()) {
            data.resize(used + step);
            step = kGrowChunk;
        }
        const ssize_t n = ::read(fd.get(), data.data() + used, data.size() - used);
        if (n < 0) {
            const int err = errno;
            if (err == EINTR) {
                continue;
            }
            throw fail("read", err);
        }
        if (n == 0) {
            break;
        }
        used += static_cast<std::size_t>(n);
    }
    data.resize(used);
    if (data.empty()) {
        throw ConfigError(fmt::format("{} '{}' is empty", what, path.string()));
    }
    return data;
}

} // namespace minivmm::loader
