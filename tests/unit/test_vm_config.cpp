#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <fstream>

using namespace minivmm;

namespace {

std::filesystem::path temp_file(const char* name, const std::string& contents)
{
    auto path = std::filesystem::temp_directory_path() / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
}

bool mentions(const std::vector<std::string>& problems, const std::string& text)
{
    for (const auto& p : problems) {
        if (p.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

} // namespace

TEST_CASE("a valid configuration has no problems", "[unit][config]")
{
    VmConfig config;
    config.kernel = temp_file("minivmm-test-kernel", "x");
    CHECK(config.validate().empty());
}

TEST_CASE("validation reports every problem it finds", "[unit][config]")
{
    VmConfig config;
    config.kernel = "/nonexistent/bzImage";
    config.initrd = std::filesystem::temp_directory_path();
    config.memory_bytes = 16 * kMiB;
    config.cpus = 0;
    config.timeout = std::chrono::milliseconds(0);
    const auto problems = config.validate();
    CHECK(problems.size() == 5);
    CHECK(mentions(problems, "kernel '/nonexistent/bzImage' does not exist"));
    CHECK(mentions(problems, "is not a regular file"));
    CHECK(mentions(problems, "too small"));
    CHECK(mentions(problems, "cpus must be at least 1"));
    CHECK(mentions(problems, "timeout"));
}

TEST_CASE("impossible sizes and counts are rejected", "[unit][config]")
{
    VmConfig config;
    config.kernel = temp_file("minivmm-test-kernel", "x");
    config.memory_bytes = 1ULL << 50;
    config.cpus = 1000;
    const auto problems = config.validate();
    CHECK(mentions(problems, "more than this host can give"));
    CHECK(mentions(problems, "cpus 1000"));
}

TEST_CASE("empty files and bad console paths are rejected", "[unit][config]")
{
    VmConfig config;
    config.kernel = temp_file("minivmm-test-empty", "");
    config.console = {ConsoleMode::File, "/nonexistent-dir/console.log"};
    config.cmdline = std::string(70000, 'a');
    const auto problems = config.validate();
    CHECK(mentions(problems, "is empty"));
    CHECK(mentions(problems, "nonexistent-dir"));
    CHECK(mentions(problems, "command line"));
}

TEST_CASE("console log, capture limit and line patterns are checked, every problem reported", "[unit][config]")
{
    VmConfig config;
    config.kernel = temp_file("minivmm-test-kernel", "x");
    config.console.log = "/nonexistent-dir/console.log";
    config.console.capture_limit = 10;
    config.console.exit_on = "(unclosed";
    config.console.fail_on = "";
    const auto problems = config.validate();
    CHECK(problems.size() == 4);
    CHECK(mentions(problems, "console log '/nonexistent-dir/console.log'"));
    CHECK(mentions(problems, "capture limit 10 bytes is too small"));
    CHECK(mentions(problems, "exit-on pattern '(unclosed' is not a valid regular expression"));
    CHECK(mentions(problems, "fail-on pattern is empty"));

    config.console = {};
    config.console.exit_on = "^DONE$";
    config.console.fail_on = "Kernel panic|Oops";
    config.console.log = std::filesystem::temp_directory_path() / "minivmm-console.log";
    CHECK(config.validate().empty());
}

TEST_CASE("NIC settings are checked", "[unit][config][virtio-net]")
{
    VmConfig config;
    config.kernel = temp_file("minivmm-test-kernel", "x");
    config.nets.push_back(NetConfig{"tap0", std::nullopt, false});
    CHECK(config.validate().empty());
    config.nets.push_back(NetConfig{"tap0", std::array<uint8_t, 6>{0x52, 0x54, 0, 0, 0, 1}, false});
    config.nets.push_back(NetConfig{"tap1", std::array<uint8_t, 6>{}, false});
    config.nets.push_back(NetConfig{"tap2", std::array<uint8_t, 6>{0x33, 0x33, 0, 0, 0, 1}, true});
    config.nets.push_back(NetConfig{"no/slash", std::nullopt, false});
    const auto problems = config.validate();
    CHECK(problems.size() == 4);
    CHECK(mentions(problems, "net 'tap0' is given twice"));
    CHECK(mentions(problems, "net 'tap1': MAC address is all zeros"));
    CHECK(mentions(problems, "net 'tap2': MAC address is a multicast address"));
    CHECK(mentions(problems, "'no/slash' is not a valid interface name"));
}
