// A Catch2 test that boots minivmm's test guest in its interactive mode and talks to it the
// way a person at the console would: wait for the prompt, type a command, read the answer.
//   MINIVMM_TEST_GUEST=path/to/minivmm-test-guest.elf ./guest_shell_test
//
// The guest's `test=shell` protocol: it prints "guest> " and reads a line (echoing it);
//   echo TEXT  -> TEXT
//   crc TEXT   -> crc32=XXXXXXXX   (the zlib CRC-32 of TEXT, 8 hex digits)
//   exit N     -> the VM ends with exit code N (debug-exit port)
//   other      -> unknown command: ...
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <minivmm/minivmm.hpp>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <regex>
#include <string>

using namespace std::chrono_literals;

namespace {

std::string regex_escape(const std::string& text)
{
    static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
    return std::regex_replace(text, special, R"(\$&)");
}

uint32_t zlib_crc32(const std::string& data)
{
    uint32_t crc = 0xffffffff;
    for (const unsigned char c : data) {
        crc ^= c;
        for (int k = 0; k < 8; ++k) {
            crc = (crc >> 1) ^ (0xedb88320 & (0U - (crc & 1)));
        }
    }
    return ~crc;
}

// The test guest booted in shell mode, at its first prompt.
class ShellGuest {
public:
    ShellGuest()
    {
        const char* kernel = std::getenv("MINIVMM_TEST_GUEST");
        if (kernel == nullptr) {
            FAIL("set MINIVMM_TEST_GUEST to the test guest image (minivmm-test-guest.elf)");
        }
        minivmm::set_log_level(minivmm::LogLevel::Warn);
        minivmm::VmConfig config;
        config.kernel = kernel;
        config.cmdline = "test=shell";
        config.memory_bytes = 64 * minivmm::kMiB;
        config.console.mode = minivmm::ConsoleMode::None; // in memory only: vm->console()
        config.timeout = 120s;
        vm = minivmm::Vm::create(config);
        vm->start();
        // The prompt, or the guest's error line (e.g. an image without test=shell).
        const auto first = console().expect_any({"guest> ", R"(error: [^\r\n]*\r?\n)"}, 60s);
        if (first.index != 0) {
            FAIL("the test guest did not reach its prompt: " << first.text);
        }
    }

    minivmm::Console& console() { return vm->console(); }

    // Types `command`, waits for the guest's echo of it and for the next prompt; returns what
    // the command printed in between, without carriage returns.
    std::string run(const std::string& command)
    {
        console().send_line(command);
        console().expect(regex_escape(command) + R"(\r?\n)", 30s);
        std::string printed = console().expect("guest> ", 30s).before;
        std::erase(printed, '\r');
        return printed;
    }

    std::unique_ptr<minivmm::Vm> vm;
};

} // namespace

TEST_CASE("echo prints its text back")
{
    ShellGuest guest;
    CHECK(guest.run("echo hello from the host") == "hello from the host\n");
}

TEST_CASE("crc prints the zlib CRC-32 of its text")
{
    ShellGuest guest;
    const std::string text = "minivmm test guest";
    const std::string printed = guest.run("crc " + text);
    std::smatch m;
    REQUIRE(std::regex_search(printed, m, std::regex("crc32=([0-9a-fA-F]{8})")));
    CHECK(std::stoul(m[1].str(), nullptr, 16) == zlib_crc32(text));
}

TEST_CASE("an unknown command is named in the answer")
{
    ShellGuest guest;
    CHECK_THAT(guest.run("frobnicate now"), Catch::Contains("unknown command: frobnicate"));
}

TEST_CASE("exit N ends the VM with exit code N")
{
    ShellGuest guest;
    guest.console().send_line("exit 7");
    const minivmm::ExitStatus status = guest.vm->wait();
    CHECK(status.reason == minivmm::ExitReason::DebugExit);
    CHECK(status.code == 7);
}
