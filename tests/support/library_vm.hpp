// Helpers for tests that use libminivmm in-process (no minivmm binary): a VmConfig for the
// project's test guest, and what a finished run left behind.
#pragma once

#include "support/kvm.hpp"

#include <minivmm/minivmm.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace minivmm::test {

// The test guest (PVH ELF) with `cmdline`; the console is kept in memory only.
inline VmConfig test_guest_config(const std::string& cmdline, unsigned cpus = 1)
{
    VmConfig config;
    config.kernel = MINIVMM_TEST_GUEST_ELF;
    config.cmdline = cmdline;
    config.memory_bytes = 64 * kMiB;
    config.cpus = cpus;
    config.console.mode = ConsoleMode::None;
    config.timeout = std::chrono::seconds(120); // a backstop: no test waits this long
    return config;
}

// Boots `config`, waits for the end, returns how it ended; the console output goes to INFO.
inline ExitStatus run_to_end(const VmConfig& config, std::string* console_out = nullptr)
{
    auto vm = Vm::create(config);
    vm->start();
    const auto status = vm->wait();
    UNSCOPED_INFO("cmdline: " << config.cmdline << "\nexit: " << to_string(status.reason) << " code " << status.code
                              << " (" << status.detail << ")\nconsole:\n"
                              << vm->console().output());
    if (console_out != nullptr) {
        *console_out = vm->console().output();
    }
    return status;
}

} // namespace minivmm::test
