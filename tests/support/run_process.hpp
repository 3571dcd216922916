// Runs a program as a child process with captured stdout/stderr and a watchdog, the way a
// user or a CI job runs minivmm.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace minivmm::test {

struct ProcessResult {
    int exit_code = -1;     // the exit status, or 128+N when killed by signal N
    bool timed_out = false; // the watchdog killed it
    std::string out;
    std::string err;
};

// A signal to send once stdout contains `after_output` (e.g. SIGTERM once a guest is up).
struct SignalOnOutput {
    std::string after_output;
    int signal = 0;
};

[[nodiscard]] ProcessResult run_process(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds watchdog = std::chrono::seconds(60),
                                        const std::string& stdin_data = "", const SignalOnOutput& send = {});

} // namespace minivmm::test
