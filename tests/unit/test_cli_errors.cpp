// Bad input to the minivmm binary: one line naming the problem, exit code 125, no crash.
// These fail before KVM is opened, so they need no /dev/kvm.
#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace minivmm::test;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) { return fs::temp_directory_path() / ("minivmm-cli-" + name); }

void write_file(const fs::path& path, const std::string& contents)
{
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

std::string read_prefix(const char* path, size_t n)
{
    std::ifstream in(path, std::ios::binary);
    std::string data(n, '\0');
    in.read(data.data(), static_cast<std::streamsize>(n));
    data.resize(static_cast<size_t>(in.gcount()));
    return data;
}

void expect_one_line_error(std::vector<std::string> args, const std::string& mention)
{
    args.insert(args.begin(), MINIVMM_BINARY);
    const auto result = run_process(args, std::chrono::seconds(30));
    INFO("args: " << Catch::Detail::stringify(args) << "\nstderr: " << result.err << "\nstdout: " << result.out);
    CHECK(result.exit_code == 125);
    CHECK_THAT(result.err, Catch::StartsWith("minivmm: error: ") && Catch::Contains(mention));
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    CHECK(result.out.empty());
}

} // namespace

TEST_CASE("wrong paths are reported by name", "[unit][cli-errors]")
{
    expect_one_line_error({"--kernel", "/nonexistent/vmlinuz"}, "/nonexistent/vmlinuz");
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_ELF, "--initrd", "/nonexistent/initrd"},
                          "/nonexistent/initrd");
    expect_one_line_error({"--kernel", fs::temp_directory_path().string()}, "not a regular file");
}

TEST_CASE("files that are not kernels are rejected", "[unit][cli-errors]")
{
    const auto garbage = scratch("garbage");
    write_file(garbage, std::string(8192, 'x'));
    expect_one_line_error({"--kernel", garbage.string()}, "not a kernel");

    const auto empty = scratch("empty");
    write_file(empty, "");
    expect_one_line_error({"--kernel", empty.string()}, "empty");
}

TEST_CASE("truncated kernel images are rejected", "[unit][cli-errors]")
{
    for (size_t cut : {size_t{100}, size_t{0x260}, size_t{1500}}) {
        const auto bz = scratch("truncated-bzimage");
        write_file(bz, read_prefix(MINIVMM_TEST_GUEST_BZIMAGE, cut));
        expect_one_line_error({"--kernel", bz.string()}, "");
    }
    for (size_t cut : {size_t{20}, size_t{200}, size_t{4096}}) {
        const auto elf = scratch("truncated-elf");
        write_file(elf, read_prefix(MINIVMM_TEST_GUEST_ELF, cut));
        expect_one_line_error({"--kernel", elf.string()}, "");
    }
}

TEST_CASE("impossible memory sizes and vCPU counts are rejected", "[unit][cli-errors]")
{
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_ELF, "--mem", "16M"}, "too small");
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_ELF, "--mem", "900T"}, "more than this host");
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_ELF, "--mem", "lots"}, "lots");
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_ELF, "--cpus", "0"}, "cpus");
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_ELF, "--cpus", "5000"}, "cpus");
}

TEST_CASE("an initrd larger than guest RAM is rejected", "[unit][cli-errors]")
{
    const auto big = scratch("big-initrd");
    {
        std::ofstream out(big, std::ios::binary | std::ios::trunc);
        out.seekp(64 << 20);
        out.put('\0');
    }
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_BZIMAGE, "--initrd", big.string(), "--mem", "32M"},
                          "initrd");
    fs::remove(big);
}

TEST_CASE("unknown flags are rejected", "[unit][cli-errors]")
{
    expect_one_line_error({"--kernel", MINIVMM_TEST_GUEST_ELF, "--frobnicate"}, "--frobnicate");
}

TEST_CASE("bad --exit-on/--fail-on patterns and --console-log paths are rejected", "[unit][cli-errors]")
{
    const auto kernel = scratch("ci-kernel");
    write_file(kernel, "x");
    expect_one_line_error({"--kernel", kernel.string(), "--fail-on", "Kernel (panic"}, "fail-on pattern 'Kernel (panic'");
    expect_one_line_error({"--kernel", kernel.string(), "--exit-on", "[a-"}, "exit-on pattern '[a-'");
    expect_one_line_error({"--kernel", kernel.string(), "--console-log", "/nonexistent-dir/log"},
                          "console log '/nonexistent-dir/log'");
}
