// The kernel's release read from its image (loader/kernel_release.hpp): the bzImage header's
// kernel_version string, or linux_banner in an ELF vmlinux; hostile images give none.
#include "loader/kernel_release.hpp"
#include "support/file_contents.hpp"
#include "support/fake_kernel.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

using minivmm::loader::kernel_release;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> bytes_of(const std::string& text)
{
    std::vector<std::byte> out(text.size());
    std::memcpy(out.data(), text.data(), text.size());
    return out;
}

std::vector<std::byte> bytes_of(const std::vector<uint8_t>& data)
{
    std::vector<std::byte> out(data.size());
    std::memcpy(out.data(), data.data(), data.size());
    return out;
}

std::vector<std::byte> bzimage(const std::string& version) { return bytes_of(minivmm::test::fake_bzimage(version)); }

// The same header with kernel_version pointing at `pointer` + 0x200.
std::vector<std::byte> bzimage(const std::string& version, uint16_t pointer)
{
    auto image = bzimage(version);
    std::memcpy(image.data() + 0x20e, &pointer, 2);
    return image;
}

std::vector<std::byte> read_file(const fs::path& path) { return minivmm::test::file_contents_bytes(path); }

} // namespace

TEST_CASE("kernel release: the bzImage header's version string, first word", "[unit][loader][kernel-release]")
{
    CHECK(kernel_release(bzimage("6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC")) ==
          "6.1.0-57-cloud-amd64");
    CHECK(kernel_release(bzimage("6.9.0-rc1")) == "6.9.0-rc1");
}

TEST_CASE("kernel release: linux_banner in an ELF vmlinux", "[unit][loader][kernel-release]")
{
    std::string elf = std::string("\x7f" "ELF", 4) + std::string(200, '\0');
    elf += "Linux version %s (%s)\n"; // a format string is not the banner
    elf += std::string(50, '\0');
    elf += "Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14)) #1 SMP";
    CHECK(kernel_release(bytes_of(elf)) == "6.1.0-57-cloud-amd64");
}

TEST_CASE("kernel release: images that name none", "[unit][loader][kernel-release]")
{
    CHECK_FALSE(kernel_release({}));
    CHECK_FALSE(kernel_release(bzimage("", 0)));                       // kernel_version 0: not set
    CHECK_FALSE(kernel_release(bzimage("6.1.0", 0xffff)));             // points past the end
    CHECK_FALSE(kernel_release(bzimage(" leading-blank")));
    CHECK_FALSE(kernel_release(bzimage(std::string(80, 'x') + " long"))); // longer than a release can be
    auto unterminated = bzimage("");
    std::memset(unterminated.data() + 0x3000, 'a', 0x1000);
    CHECK_FALSE(kernel_release(unterminated));
    CHECK_FALSE(kernel_release(bytes_of("Linux version ")));
    CHECK_FALSE(kernel_release(bytes_of("Linux version 6.1.0")));       // no " (" after it
}

TEST_CASE("kernel release: Debian's kernels", "[unit][loader][kernel-release]")
{
    const fs::path dir = MINIVMM_LINUX_GUEST_DIR;
    std::error_code ec;
    if (!fs::exists(dir / "vmlinux-cloud", ec)) {
        WARN("SKIPPED: the default Linux guest is not built (cmake --build build --target linux-guest)");
        return;
    }
    const auto bz = kernel_release(read_file(dir / "vmlinuz-cloud"));
    REQUIRE(bz);
    CHECK_THAT(*bz, Catch::Matches(R"(\d+\.\d+\.\d+-\d+-cloud-amd64)"));
    CHECK(kernel_release(read_file(dir / "vmlinux-cloud")) == bz);
    const auto generic = kernel_release(read_file(dir / "vmlinuz-generic"));
    REQUIRE(generic);
    CHECK_THAT(*generic, Catch::Matches(R"(\d+\.\d+\.\d+-\d+-amd64)"));
}
