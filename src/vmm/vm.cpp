// The lifecycle of a VM: start the threads, wait for the first exit reason, tear down.
#include "vmm/vm_impl.hpp"

#include "util/sanitizers.hpp"
#include "util/sigpipe.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

namespace minivmm {

const char* to_string(ExitReason reason)
{
    switch (reason) {
    case ExitReason::PowerOff:
        return "poweroff";
    case ExitReason::Reboot:
        return "reboot";
    case ExitReason::DebugExit:
        return "debug-exit";
    case ExitReason::Crash:
        return "crash";
    case ExitReason::Timeout:
        return "timeout";
    case ExitReason::Signal:
        return "signal";
    case ExitReason::Stopped:
        return "stopped";
    case ExitReason::HostFailure:
        return "host-failure";
    case ExitReason::ConsoleMatch:
        return "console-match";
    case ExitReason::ConsoleFailure:
        return "console-failure";
    }
    return "unknown";
}

Vm::Impl::~Impl() { shut_down(); }

void Vm::Impl::start()
{
    std::lock_guard lock(threads_mutex);
    if (started) {
        throw HostError("VM already started");
    }
    started = true;
    started_at = std::chrono::steady_clock::now();
    console->start(events);
    events.set_tick(std::chrono::milliseconds(20), [this] {
        console->on_tick();
        // The timeout holds even when nobody is in wait(): a harness blocked in expect()
        // learns at once that the run is over.
        if (config.timeout && std::chrono::steady_clock::now() >= started_at + *config.timeout) {
            request_exit(ExitStatus::timeout());
        }
    });
    io_thread = std::thread([this] {
        // A console reader that went away makes writes fail with EPIPE, never kills us.
        util::block_sigpipe_in_this_thread();
        try {
            confine(util::ThreadKind::Io);
            events.run();
        } catch (const std::exception& e) {
            request_exit(ExitStatus::host_failure(fmt::format("I/O thread: {}", e.what())));
        }
    });
    for (auto& vcpu : vcpus) {
        vcpu->start([this] { confine(util::ThreadKind::Vcpu); });
    }
}

void Vm::Impl::confine(util::ThreadKind kind) const
{
    if (config.seccomp) {
        util::install_seccomp_filter(seccomp, kind);
    }
}

void Vm::Impl::request_exit(ExitStatus status)
{
    const bool first = exit.set(status);
    if (first) {
        spdlog::debug("VM exit: {} ({}), exit code {}", to_string(status.reason), status.detail, status.code);
        if (console) {
            console->close(status);
        }
        if (exec) {
            exec->vm_ended(); // a command's run() returns
        }
    }
    std::lock_guard lock(threads_mutex);
    if (torn_down) {
        return;
    }
    for (auto& vcpu : vcpus) {
        vcpu->stop();
    }
    events.stop();
}

void Vm::Impl::shut_down()
{
    {
        std::lock_guard lock(threads_mutex);
        if (torn_down) {
            return;
        }
        for (auto& vcpu : vcpus) {
            vcpu->stop();
        }
        events.stop();
        torn_down = true;
    }
    for (auto& vcpu : vcpus) {
        vcpu->join();
    }
    if (io_thread.joinable()) {
        io_thread.join();
    }
    if (console) {
        console->close(exit.get().value_or(ExitStatus::stopped()));
    }
    quiesce_devices();
    if (console) {
        // After the disks: a console nobody reads costs the run at most its grace period.
        console->finish();
    }
}

void Vm::Impl::quiesce_devices()
{
    // Every thread is gone: nothing races the devices now. Make disk data durable.
    for (auto& slot : virtio) {
        if (auto failure = slot->transport().quiesce()) {
            spdlog::error("{}", *failure);
            data_loss.push_back(std::move(*failure));
        }
    }
}

ExitStatus Vm::Impl::final_status(const ExitStatus& status) const
{
    if (data_loss.empty()) {
        return status;
    }
    // Whatever the guest said, unsafe data is not a success (docs/architecture.md "Exit codes").
    return ExitStatus::host_failure(
        fmt::format("{} (the run had ended: {}, exit code {})", fmt::join(data_loss, "; "), status.detail, status.code));
}

std::unique_ptr<Vm> Vm::create(const VmConfig& config) { return std::unique_ptr<Vm>(new Vm(build_vm(config))); }

Vm::Vm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Vm::~Vm() = default;

void Vm::start() { impl_->start(); }

ExitStatus Vm::wait()
{
    ExitStatus status;
    if (impl_->config.timeout) {
        auto got = impl_->exit.wait_until(impl_->started_at + *impl_->config.timeout);
        if (!got) {
            impl_->request_exit(ExitStatus::timeout());
        }
        status = impl_->exit.wait();
    } else {
        status = impl_->exit.wait();
    }
    impl_->shut_down();
    return impl_->final_status(status);
}

std::optional<ExitStatus> Vm::wait_for(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    if (impl_->config.timeout) {
        deadline = std::min(deadline, impl_->started_at + *impl_->config.timeout);
    }
    if (!impl_->exit.wait_until(deadline)) {
        if (!impl_->config.timeout || std::chrono::steady_clock::now() < impl_->started_at + *impl_->config.timeout) {
            return std::nullopt;
        }
        impl_->request_exit(ExitStatus::timeout());
    }
    return wait();
}

void Vm::stop(ExitStatus why) { impl_->request_exit(std::move(why)); }

void Vm::confine_calling_thread()
{
    // LeakSanitizer's check at exit runs in a task cloned from the exiting thread, with every
    // signal blocked: under this thread's allow-list it dies of its first forbidden call and
    // exit() waits for it for good. So the sanitizer builds leave this thread unconfined
    // (minivmm's own threads still are); release builds always confine it.
    if (util::kAddressSanitizer) {
        spdlog::debug("seccomp: the calling thread stays unconfined in this sanitizer build (LeakSanitizer's exit check)");
        return;
    }
    impl_->confine(util::ThreadKind::Main);
}

Console& Vm::console() { return impl_->console->console(); }

std::optional<std::chrono::microseconds> Vm::boot_time() const
{
    const int64_t us = impl_->boot_time_us.load();
    if (us < 0) {
        return std::nullopt;
    }
    return std::chrono::microseconds(us);
}

} // namespace minivmm
