// A virtual machine: create it from a VmConfig, start it, wait for it to end. Each Vm is
// independent: a process may run several at once, from any threads; destroying one stops
// its guest, joins its threads and frees its memory and file descriptors.
#pragma once

#include <minivmm/console.hpp>
#include <minivmm/exit_status.hpp>
#include <minivmm/vm_config.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace minivmm {

class Vm {
public:
    // Validates the configuration and builds the whole machine (KVM VM, RAM, devices,
    // loaded kernel, vCPUs) without running it. Throws minivmm::Error: ErrorKind::Config
    // for problems with the configuration or its files, ErrorKind::Host for KVM failures.
    [[nodiscard]] static std::unique_ptr<Vm> create(const VmConfig& config);

    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;
    // Stops the guest if it still runs, joins every thread, frees everything.
    ~Vm();

    // Starts the vCPUs and the I/O thread. Once only.
    void start();
    // Blocks until the guest ends (or the configured timeout runs out).
    ExitStatus wait();
    // As wait(), but gives up after `timeout` and returns nullopt (the guest keeps running).
    [[nodiscard]] std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
    // Ends the run with `why` (if it has not ended already). Safe from any thread and from
    // a signal-handling thread; returns without waiting.
    void stop(ExitStatus why = ExitStatus::stopped());

    // The guest console: its output so far, expect() and send(). Usable before start()
    // (input waits until the guest reads it) and after the run ended (the output stays).
    [[nodiscard]] Console& console();

    // With VmConfig::seccomp, minivmm's own threads (vCPUs, I/O, RTC timer) run under seccomp
    // allow-lists from the start. The thread that waits for the VM and tears it down is the
    // caller's: this gives it (and the threads it creates afterwards) the allow-list of what
    // that takes, wait(), stop(), console(), the destructor and exit, and nothing else. For a
    // program, such as the minivmm command, that does nothing more on this thread; for good
    // (no-op without VmConfig::seccomp). A forbidden call ends the process with 125.
    void confine_calling_thread();

    // Time from create() to the guest's first boot-timer write, if it made one.
    [[nodiscard]] std::optional<std::chrono::microseconds> boot_time() const;

    struct Impl;

private:
    explicit Vm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace minivmm
