// Tier guards and shared helpers for the tests that boot guests.
#pragma once

#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace minivmm::test {

// True when /dev/kvm can be used. Otherwise the test is skipped with a loud message, or
// fails where the harness promised KVM (MINIVMM_REQUIRE_KVM=1, set inside the nested VM
// and by CI), so a missing /dev/kvm can never turn the tier silently green.
inline bool kvm_available()
{
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        ::close(fd);
        return true;
    }
    const char* require = std::getenv("MINIVMM_REQUIRE_KVM");
    if (require != nullptr && std::string(require) == "1") {
        FAIL("/dev/kvm is not usable but MINIVMM_REQUIRE_KVM=1");
    }
    WARN("SKIPPED: /dev/kvm is not usable here; run this tier with tests/linux/run-tier.sh");
    return false;
}

enum class GuestImage { Elf, BzImage };

inline const char* image_path(GuestImage image)
{
    return image == GuestImage::Elf ? MINIVMM_TEST_GUEST_ELF : MINIVMM_TEST_GUEST_BZIMAGE;
}

inline const char* image_name(GuestImage image) { return image == GuestImage::Elf ? "PVH ELF" : "bzImage"; }

struct GuestRun {
    std::string mem = "128M";
    unsigned cpus = 1;
    std::vector<std::string> extra; // more flags
    std::string input = {};         // written to minivmm's stdin (the guest console's input)
};

// Runs the minivmm binary on the test guest with `cmdline`.
inline ProcessResult run_test_guest(GuestImage image, const std::string& cmdline, const GuestRun& run = {})
{
    std::vector<std::string> argv{MINIVMM_BINARY, "--kernel", image_path(image), "--cmdline", cmdline,
                                  "--mem", run.mem, "--cpus", std::to_string(run.cpus), "--timeout", "120s"};
    argv.insert(argv.end(), run.extra.begin(), run.extra.end());
    auto result = run_process(argv, std::chrono::seconds(180), run.input);
    CHECK_FALSE(result.timed_out);
    // Shown with the caller's next assertion, so a failure shows what the guest printed.
    UNSCOPED_INFO("minivmm stdout:\n" << result.out << "\nminivmm stderr:\n" << result.err);
    return result;
}

inline uint32_t crc32(const std::string& data)
{
    uint32_t crc = 0xffffffff;
    for (unsigned char c : data) {
        crc ^= c;
        for (int k = 0; k < 8; ++k) {
            crc = (crc >> 1) ^ (0xedb88320 & (0U - (crc & 1)));
        }
    }
    return ~crc;
}

} // namespace minivmm::test
