// Loader pieces shared by both formats: e820 map, initrd placement, format detection, file reading.
#include "loader/e820.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "loader/initrd.hpp"
#include "loader/kernel_loader.hpp"
#include "arch/x86_64/layout.hpp"

#include "support/config_error.hpp"
#include "support/packed_field.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace minivmm;
using namespace minivmm::loader;
using minivmm::test::config_error;
using minivmm::test::field;
using Catch::Matchers::Contains;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kGiB = 1024 * kMiB;

struct TempDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("minivmm-loader-test-" + std::to_string(::getpid()));
    TempDir() { std::filesystem::create_directories(path); }
    ~TempDir() { std::filesystem::remove_all(path); }
};

void check_entry(const E820Entry& e, uint64_t addr, uint64_t size, E820Type type)
{
    CHECK(field(e.addr) == addr);
    CHECK(field(e.size) == size);
    CHECK(field(e.type) == static_cast<uint32_t>(type));
}

} // namespace

TEST_CASE("e820 map below the MMIO hole", "[unit][loader]")
{
    const auto map = build_e820_map(arch::ram_regions(512 * kMiB));
    REQUIRE(map.size() == 3);
    check_entry(map[0], 0, arch::kEbdaStart, E820Type::Ram);
    check_entry(map[1], arch::kEbdaStart, arch::kKernelStart - arch::kEbdaStart, E820Type::Reserved);
    check_entry(map[2], arch::kKernelStart, 512 * kMiB - arch::kKernelStart, E820Type::Ram);
}

TEST_CASE("e820 map on both sides of the MMIO hole", "[unit][loader]")
{
    const auto map = build_e820_map(arch::ram_regions(3584 * kMiB));
    REQUIRE(map.size() == 4);
    check_entry(map[0], 0, 0x9fc00, E820Type::Ram);
    check_entry(map[1], 0x9fc00, 0x60400, E820Type::Reserved);
    check_entry(map[2], 0x100000, 3 * kGiB - 0x100000, E820Type::Ram);
    check_entry(map[3], 4 * kGiB, 512 * kMiB, E820Type::Ram);

    const auto exact = build_e820_map(arch::ram_regions(3 * kGiB));
    REQUIRE(exact.size() == 3);
    check_entry(exact[2], 0x100000, 3 * kGiB - 0x100000, E820Type::Ram);
}

TEST_CASE("e820 map needs RAM above 1 MiB", "[unit][loader]")
{
    CHECK_THAT(config_error([] { (void)build_e820_map(arch::ram_regions(kMiB)); }), Contains("too small"));
}

TEST_CASE("initrd placement", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(256 * kMiB);
    SECTION("top of RAM, page aligned")
    {
        const memory::GuestAddress at =
            place_initrd(memory, 10 * kMiB + 1, memory::GuestAddress(20 * kMiB), 0xffff'ffff);
        CHECK(at.value() % 4096 == 0);
        CHECK(at.value() + 10 * kMiB + 1 <= 256 * kMiB);
        CHECK(at.value() + 10 * kMiB + 1 > 256 * kMiB - 4096);
    }
    SECTION("below addr_max, which is inclusive")
    {
        const memory::GuestAddress at = place_initrd(memory, 4096, memory::GuestAddress(20 * kMiB), 0x0fff'ffff);
        CHECK(at == memory::GuestAddress(0x0fff'f000));
    }
    SECTION("exactly fills the space above the kernel")
    {
        const memory::GuestAddress at =
            place_initrd(memory, 256 * kMiB - 0x20'1000, memory::GuestAddress(0x20'0001), 0xffff'ffff);
        CHECK(at == memory::GuestAddress(0x20'1000));
        CHECK_THROWS_AS(place_initrd(memory, 256 * kMiB - 0x20'1000 + 1, memory::GuestAddress(0x20'0001), 0xffff'ffff),
                        ConfigError);
    }
    SECTION("too big")
    {
        CHECK(config_error(
                  [&] { (void)place_initrd(memory, 300 * kMiB, memory::GuestAddress(16 * kMiB), 0xffff'ffff); }) ==
              "initrd (300.0 MiB) does not fit in guest RAM below 0x10000000 (240.0 MiB free): give the guest more "
              "memory");
        CHECK_THAT(
            config_error([&] { (void)place_initrd(memory, kMiB, memory::GuestAddress(300 * kMiB), 0xffff'ffff); }),
            Contains("(0.0 MiB free)"));
        CHECK_THROWS_AS(place_initrd(memory, kMiB, memory::GuestAddress(~uint64_t{0}), 0xffff'ffff), ConfigError);
    }
    SECTION("low RAM only, even with RAM above 4 GiB")
    {
        auto big = arch::create_guest_ram(4 * kGiB);
        const memory::GuestAddress at = place_initrd(big, kMiB, memory::GuestAddress(20 * kMiB), ~uint64_t{0});
        CHECK(at == memory::GuestAddress(arch::kMmioHoleStart - kMiB));
    }
}

TEST_CASE("detect_kernel_format rejects garbage", "[unit][loader]")
{
    const std::string expected = "not a kernel image (neither a bzImage nor an ELF)";
    std::vector<std::byte> garbage(4096);
    for (std::size_t i = 0; i < garbage.size(); ++i) {
        garbage[i] = static_cast<std::byte>((i * 151 + 7) & 0xff);
    }
    CHECK(config_error([&] { (void)detect_kernel_format(garbage); }) == expected);
    CHECK(config_error([&] { (void)detect_kernel_format({}); }) == expected);
    CHECK(config_error([&] { (void)detect_kernel_format(std::span(garbage.data(), 3)); }) == expected);
    auto memory = arch::create_guest_ram(16 * kMiB);
    CHECK(config_error([&] { (void)load_kernel(memory, {garbage, {}, "", std::nullopt}); }) == expected);

    std::vector<std::byte> elf_magic{std::byte{0x7f}, std::byte{'E'}, std::byte{'L'}, std::byte{'F'}};
    CHECK(detect_kernel_format(elf_magic) == KernelFormat::PvhElf);
    CHECK_THROWS_AS(load_kernel(memory, {elf_magic, {}, "", std::nullopt}), ConfigError);
}

TEST_CASE("read_image_file errors", "[unit][loader]")
{
    TempDir dir;
    const auto missing = dir.path / "missing";
    CHECK(config_error([&] { (void)read_image_file(missing, "kernel"); }) ==
          "cannot open kernel '" + missing.string() + "': No such file or directory");

    const auto empty = dir.path / "empty";
    std::ofstream(empty).close();
    CHECK(config_error([&] { (void)read_image_file(empty, "initrd"); }) == "initrd '" + empty.string() + "' is empty");

    CHECK(config_error([&] { (void)read_image_file(dir.path, "kernel"); }) ==
          "cannot read kernel '" + dir.path.string() + "': Is a directory");

    const auto file = dir.path / "kernel";
    std::string contents(3 * kMiB + 77, 'x');
    contents[0] = 'a';
    contents.back() = 'z';
    std::ofstream(file, std::ios::binary) << contents;
    const auto data = read_image_file(file, "kernel");
    REQUIRE(data.size() == contents.size());
    CHECK(data.bytes().front() == std::byte{'a'});
    CHECK(data.bytes().back() == std::byte{'z'});
}

TEST_CASE("image files: regular files are read where needed, pipes whole", "[unit][loader]")
{
    TempDir dir;
    const auto file = dir.path / "image";
    std::string contents(3 * kMiB + 77, 'x');
    for (std::size_t i = 0; i < contents.size(); ++i) {
        contents[i] = static_cast<char>('a' + i % 26);
    }
    std::ofstream(file, std::ios::binary) << contents;

    SECTION("a regular file")
    {
        const auto source = open_image_file(file, "kernel");
        REQUIRE(source->size() == contents.size());
        std::vector<std::byte> part(100);
        source->read_at(2 * kMiB + 1, part);
        CHECK(static_cast<char>(part[0]) == contents[2 * kMiB + 1]);
        CHECK(static_cast<char>(part[99]) == contents[2 * kMiB + 100]);
        source->read_at(contents.size(), std::span<std::byte>()); // an empty read at the end
        CHECK_THAT(config_error([&] { source->read_at(contents.size() - 99, part); }),
                   Contains("kernel '" + file.string() + "': read of 100 bytes at") && Contains("is past its end"));
        CHECK_THAT(config_error([&] { source->read_at(~uint64_t{0}, part); }), Contains("is past its end"));
    }
    SECTION("a pipe, longer than the first 64 KiB buffer")
    {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        const std::string piped = contents.substr(0, 300 * 1024 + 3);
        std::thread writer([&] {
            std::size_t done = 0;
            while (done < piped.size()) {
                const ssize_t n = ::write(fds[1], piped.data() + done, piped.size() - done);
                if (n <= 0) {
                    break;
                }
                done += static_cast<std::size_t>(n);
            }
            ::close(fds[1]);
        });
        const auto source = open_image_file("/proc/self/fd/" + std::to_string(fds[0]), "initrd");
        writer.join();
        ::close(fds[0]);
        REQUIRE(source->size() == piped.size());
        std::vector<std::byte> all(piped.size());
        source->read_at(0, all);
        CHECK(std::equal(all.begin(), all.end(), piped.begin(),
                         [](std::byte b, char c) { return static_cast<char>(b) == c; }));
    }
    SECTION("read whole, in huge pages")
    {
        const auto data = read_image_file(file, "kernel");
        REQUIRE(data.size() == contents.size());
        CHECK(reinterpret_cast<uintptr_t>(data.data()) % (2 * kMiB) == 0);
        CHECK(std::equal(data.begin(), data.end(), contents.begin(),
                         [](std::byte b, char c) { return static_cast<char>(b) == c; }));
    }
    SECTION("the same errors as read_image_file")
    {
        const auto missing = dir.path / "missing";
        CHECK(config_error([&] { (void)open_image_file(missing, "kernel"); }) ==
              "cannot open kernel '" + missing.string() + "': No such file or directory");
        const auto empty = dir.path / "empty";
        std::ofstream(empty).close();
        CHECK(config_error([&] { (void)open_image_file(empty, "initrd"); }) ==
              "initrd '" + empty.string() + "' is empty");
        CHECK(config_error([&] { (void)open_image_file(dir.path, "kernel"); }) ==
              "cannot read kernel '" + dir.path.string() + "': Is a directory");
    }
}
