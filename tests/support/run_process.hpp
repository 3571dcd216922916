// Runs a program as a child process with captured stdout/stderr and a watchdog, the way a
// user or a CI job runs minivmm.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace minivmm::test {

struct ProcessResult {
    int exit_code = -1;     // the exit status, or 128+N when killed by signal N
    bool timed_out = false; // the watchdog killed it
    std::string out;
    std::string err;
    std::chrono::milliseconds elapsed{0};
};

// A signal to send once stdout contains `after_output` (e.g. SIGTERM once a guest is up);
// `inspect`, if set, is called with the child's pid first (to look at it while it runs).
struct SignalOnOutput {
    std::string after_output;
    int signal = 0;
    std::function<void(int pid)> inspect = {};
};

[[nodiscard]] ProcessResult run_process(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds watchdog = std::chrono::seconds(60),
                                        const std::string& stdin_data = "", const SignalOnOutput& send = {});

// What the parent does with the child's stdout.
enum class StdoutReader {
    Capture,   // reads all of it into ProcessResult::out
    NeverRead, // keeps the pipe open and never reads it: once full, every write would block
    FirstLine, // reads up to the first '\n', then closes the pipe (`| head -1`)
};

struct ProcessOptions {
    std::chrono::milliseconds watchdog = std::chrono::seconds(60);
    std::string stdin_data;
    SignalOnOutput send;
    StdoutReader stdout_reader = StdoutReader::Capture;
    // A signal to send this long after the start (0: none).
    int signal_after_delay = 0;
    std::chrono::milliseconds delay{0};
};

[[nodiscard]] ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options);

} // namespace minivmm::test
