#include "agent/agent_session.hpp"

#include "util/sys_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <ctime>

namespace minivmm::agent {
namespace {

void set_nonblocking(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        util::throw_sys_error("fcntl O_NONBLOCK (agent port)");
    }
}

// Reads what `fd` has; n > 0 bytes, 0 at end of file, -1 when nothing is there now.
ssize_t read_some(int fd, std::span<uint8_t> into)
{
    for (;;) {
        const ssize_t n = ::read(fd, into.data(), into.size());
        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        // EAGAIN: nothing now; anything else on a port or the caller's stdin ends it.
        return errno == EAGAIN ? -1 : 0;
    }
}

// Writes all of `bytes` to the caller's `fd` (which may be blocking: it is theirs), with
// SIGPIPE held back in this thread so a closed reader is EPIPE, not the death of the process.
// False on EPIPE or another error.
bool write_caller_fd(int fd, std::span<const uint8_t> bytes)
{
    sigset_t pipe_set;
    sigset_t old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    bool ok = true;
    bool broken = false;
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n > 0) {
            bytes = bytes.subspan(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            static_cast<void>(::poll(&p, 1, -1));
            continue;
        }
        broken = n < 0 && errno == EPIPE;
        ok = false;
        break;
    }
    if (broken && !sigismember(&old, SIGPIPE)) {
        // Consume the SIGPIPE this write raised, so it does not arrive once unblocked.
        const timespec zero{0, 0};
        static_cast<void>(::sigtimedwait(&pipe_set, nullptr, &zero));
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return ok;
}

// Writes what it can of `bytes` to a non-blocking port (a stream socket); the count, or -1
// when the port broke.
ssize_t write_port(int fd, std::span<const uint8_t> bytes)
{
    for (;;) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EAGAIN ? 0 : -1;
    }
}

// One of the command's outputs on its way from a port to the caller.
struct OutputStream {
    int port;
    int fd;                  // the caller's descriptor, or -1
    OutputCallback* callback; // or nullptr
    std::string* capture;
    uint32_t stream;         // 1 stdout, 2 stderr (OUTPUT_CLOSED)
    std::vector<uint8_t> pending; // read from the port, not yet written to `fd`
    uint64_t received = 0;
    bool caller_gone = false; // `fd` reported EPIPE: the rest is dropped

    // Takes what the port has (only when nothing is pending for `fd`).
    bool pull(std::array<uint8_t, AgentSession::kChunk>& buffer)
    {
        const ssize_t n = read_some(port, buffer);
        if (n <= 0) {
            return n == -1; // 0: the port closed
        }
        received += static_cast<uint64_t>(n);
        const std::span<const uint8_t> bytes(buffer.data(), static_cast<size_t>(n));
        if (caller_gone) {
            return true;
        }
        if (fd >= 0) {
            pending.assign(bytes.begin(), bytes.end());
        } else if (callback != nullptr && *callback) {
            (*callback)(bytes);
        } else {
            capture->append(bytes.begin(), bytes.end());
        }
        return true;
    }

    // Hands what is pending to `fd`; true when the caller's reader went away just now.
    bool push()
    {
        const bool ok = write_caller_fd(fd, pending);
        pending.clear();
        if (!ok && !caller_gone) {
            caller_gone = true;
            return true;
        }
        return false;
    }
};

} // namespace

AgentSession::AgentSession(AgentChannel channel, int abort_fd) : channel_(std::move(channel)), abort_fd_(abort_fd)
{
    for (const auto* fd : {&channel_.control, &channel_.stdin_port, &channel_.stdout_port, &channel_.stderr_port}) {
        set_nonblocking(fd->get());
    }
}

void AgentSession::send_control(const std::vector<uint8_t>& message)
{
    std::lock_guard lock(control_mutex_);
    std::span<const uint8_t> rest(message);
    while (!rest.empty() && !dead_) {
        const ssize_t n = write_port(channel_.control.get(), rest);
        if (n < 0) {
            return; // the port broke: read_control() notices and ends the session
        }
        rest = rest.subspan(static_cast<size_t>(n));
        if (!rest.empty()) {
            std::array<pollfd, 2> p{{{channel_.control.get(), POLLOUT, 0}, {abort_fd_, POLLIN, 0}}};
            static_cast<void>(::poll(p.data(), p.size(), -1));
            if (p[1].revents != 0) {
                return;
            }
        }
    }
}

bool AgentSession::read_control(std::vector<AgentMessage>& messages, RunResult& result)
{
    std::array<uint8_t, 4096> buffer{};
    for (;;) {
        const ssize_t n = read_some(channel_.control.get(), buffer);
        if (n < 0) {
            return true;
        }
        if (n == 0) {
            result.broken = "the guest agent closed its control port";
            dead_ = true;
            return false;
        }
        reader_.feed(std::span(buffer.data(), static_cast<size_t>(n)), messages);
        if (reader_.error()) {
            result.broken = *reader_.error();
            dead_ = true;
            return false;
        }
    }
}

bool AgentSession::wait_ready(RunResult& result)
{
    while (!ready_) {
        if (dead_) {
            result.broken = result.broken.value_or("the guest agent's session has ended");
            return false;
        }
        std::array<pollfd, 2> p{{{channel_.control.get(), POLLIN, 0}, {abort_fd_, POLLIN, 0}}};
        if (::poll(p.data(), p.size(), -1) < 0 && errno != EINTR) {
            util::throw_sys_error("poll (guest agent)");
        }
        if (p[1].revents != 0) {
            result.broken = "the VM stopped";
            dead_ = true;
            return false;
        }
        std::vector<AgentMessage> messages;
        const bool open = read_control(messages, result);
        for (auto& message : messages) {
            if (std::holds_alternative<Ready>(message)) {
                const auto version = std::get<Ready>(message).version;
                if (version != MVM_PROTOCOL_VERSION) {
                    result.broken = fmt::format("the guest agent speaks protocol {}, not {}", version,
                                                MVM_PROTOCOL_VERSION);
                    dead_ = true;
                    return false;
                }
                ready_ = true;
            } else if (auto* failed = std::get_if<Failed>(&message)) {
                result.failed = std::move(failed->reason);
                dead_ = true; // before READY: the agent could not boot and powers off
                return false;
            }
        }
        if (!open) {
            return false;
        }
    }
    return true;
}

RunResult AgentSession::run(const RunRequest& request, RunIo& io)
{
    RunResult result;
    const auto run_message = encode_run(request); // throws before anything is sent
    if (!wait_ready(result)) {
        return result;
    }
    ready_ = false;
    send_control(run_message);
    running_ = true;

    std::array<uint8_t, kChunk> buffer{};
    OutputStream out{channel_.stdout_port.get(), io.stdout_fd, &io.on_stdout, &result.out, 1, {}};
    OutputStream err{channel_.stderr_port.get(), io.stderr_fd, &io.on_stderr, &result.err, 2, {}};
    std::vector<uint8_t> in;   // read from the caller, not yet written to the stdin port
    size_t in_pos = 0;
    size_t data_pos = 0;       // into io.stdin_data
    bool stdin_open = true;
    uint64_t stdin_sent = 0;
    bool stdin_end_sent = false;
    const auto end_stdin = [&] {
        if (!stdin_end_sent) {
            send_control(encode_stdin_end(stdin_sent));
            stdin_end_sent = true;
        }
        stdin_open = false;
        in.clear();
        in_pos = 0;
    };

    const auto finished = [&] {
        return result.failed || result.broken ||
               (result.exited && out.received >= result.exited->stdout_bytes &&
                err.received >= result.exited->stderr_bytes && out.pending.empty() && err.pending.empty());
    };
    while (!finished()) {
        enum { kAbort, kControl, kOutPort, kErrPort, kInPort, kStdin, kStdout, kStderr, kCount };
        std::array<pollfd, kCount> p{};
        for (auto& entry : p) {
            entry.fd = -1;
        }
        p[kAbort] = {abort_fd_, POLLIN, 0};
        p[kControl] = {channel_.control.get(), POLLIN, 0};
        if (out.pending.empty()) {
            p[kOutPort] = {out.port, POLLIN, 0};
        }
        if (err.pending.empty()) {
            p[kErrPort] = {err.port, POLLIN, 0};
        }
        if (in_pos < in.size()) {
            p[kInPort] = {channel_.stdin_port.get(), POLLOUT, 0};
        } else if (stdin_open && io.stdin_fd >= 0) {
            p[kStdin] = {io.stdin_fd, POLLIN, 0};
        }
        if (!out.pending.empty()) {
            p[kStdout] = {out.fd, POLLOUT, 0};
        }
        if (!err.pending.empty()) {
            p[kStderr] = {err.fd, POLLOUT, 0};
        }
        // Memory as stdin: always ready.
        const bool data_ready = stdin_open && io.stdin_fd < 0 && in_pos == in.size();
        if (::poll(p.data(), p.size(), data_ready ? 0 : -1) < 0 && errno != EINTR) {
            util::throw_sys_error("poll (guest agent)");
        }
        if (p[kAbort].revents != 0) {
            result.broken = "the VM stopped";
            dead_ = true;
            break;
        }
        if (p[kControl].revents != 0) {
            std::vector<AgentMessage> messages;
            read_control(messages, result);
            for (auto& message : messages) {
                if (auto* exited = std::get_if<Exited>(&message)) {
                    result.exited = *exited;
                } else if (auto* failed = std::get_if<Failed>(&message)) {
                    result.failed = std::move(failed->reason);
                } else if (result.exited || result.failed) {
                    ready_ = true; // ready for the next run while this one's output still arrives
                } else {
                    result.broken = "the guest agent said READY in the middle of a run";
                    dead_ = true;
                }
            }
            if ((result.exited || result.failed) && !result.broken) {
                end_stdin(); // the rest of the caller's stdin is not the command's any more
            }
        }
        for (auto* stream : {&out, &err}) {
            const int index = stream == &out ? kOutPort : kErrPort;
            if (p[index].fd >= 0 && p[index].revents != 0 && !stream->pull(buffer)) {
                result.broken = result.broken.value_or("the guest agent closed an output port");
                dead_ = true;
            }
            const int caller = stream == &out ? kStdout : kStderr;
            if (p[caller].fd >= 0 && p[caller].revents != 0 && stream->push()) {
                send_control(encode_output_closed(stream->stream));
            }
        }
        if (p[kStdin].fd >= 0 && p[kStdin].revents != 0) {
            in.resize(kChunk);
            const ssize_t n = read_some(io.stdin_fd, in);
            if (n > 0) {
                in.resize(static_cast<size_t>(n));
                in_pos = 0;
            } else if (n == 0) {
                end_stdin();
            } else {
                in.clear();
            }
        } else if (data_ready) {
            const size_t n = std::min(kChunk, io.stdin_data.size() - data_pos);
            in.assign(io.stdin_data.begin() + static_cast<std::ptrdiff_t>(data_pos),
                      io.stdin_data.begin() + static_cast<std::ptrdiff_t>(data_pos + n));
            in_pos = 0;
            data_pos += n;
            if (n == 0) {
                end_stdin();
            }
        }
        if (p[kInPort].fd >= 0 && p[kInPort].revents != 0 && in_pos < in.size()) {
            const ssize_t n = write_port(channel_.stdin_port.get(), std::span(in).subspan(in_pos));
            if (n < 0) {
                result.broken = "the guest agent closed its stdin port";
                dead_ = true;
            } else {
                in_pos += static_cast<size_t>(n);
                stdin_sent += static_cast<uint64_t>(n);
            }
        }
    }
    running_ = false;
    if (!result.broken) {
        end_stdin();
    }
    return result;
}

bool AgentSession::signal(int signo)
{
    if (!running_) {
        return false;
    }
    send_control(encode_signal(static_cast<uint32_t>(signo)));
    return true;
}

void AgentSession::resize(uint16_t rows, uint16_t cols)
{
    if (running_) {
        send_control(encode_resize(rows, cols));
    }
}

} // namespace minivmm::agent
