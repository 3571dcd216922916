// The host's side of a session with the guest agent (agent_wire.h): waits for the agent to
// boot, sends a RUN and relays the command's stdin, stdout and stderr between the caller's
// descriptors (or memory) and the four ports until the agent reports how the command ended
// and every byte of its output has been delivered. One run at a time; runs follow each other
// in one session (Vm::run).
//
// The ports are reached through the host's ends of stream sockets: the multiport
// virtio-console device holds the other ends in a VM, the agent's own session code holds
// them in the unit tests (tests/unit/test_agent_session.cpp), so both sides of the protocol
// are tested without a VM.
#pragma once

#include "agent/agent_protocol.hpp"
#include "util/unique_fd.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace minivmm::agent {

// The host's ends of the ports: stream sockets, made non-blocking by the session.
struct AgentChannel {
    util::UniqueFd control;
    util::UniqueFd stdin_port;
    util::UniqueFd stdout_port;
    util::UniqueFd stderr_port;
};

using OutputCallback = std::function<void(std::span<const uint8_t>)>;

// Where a run's stdio come from and go to. An output goes to its descriptor if it has one,
// else to its callback if it has one, else into RunResult.
struct RunIo {
    int stdin_fd = -1;      // read to end of file; -1: stdin_data is the whole stdin
    std::string stdin_data;
    int stdout_fd = -1;
    int stderr_fd = -1;
    OutputCallback on_stdout;
    OutputCallback on_stderr;
};

struct RunResult {
    std::optional<Exited> exited;        // the command ran and ended
    std::optional<std::string> failed;   // the agent could not boot or start the command
    std::optional<std::string> broken;   // the session ended first (the VM stopped, the agent broke the protocol)
    std::string out;                     // captured stdout and stderr
    std::string err;
};

class AgentSession final {
public:
    static constexpr size_t kChunk = 64 * 1024;

    // `abort_fd` (not owned) becomes readable when the session must end (the VM stopped).
    AgentSession(AgentChannel channel, int abort_fd);
    AgentSession(const AgentSession&) = delete;
    AgentSession& operator=(const AgentSession&) = delete;

    // Waits for the agent's READY (it booted) without running anything. False when the
    // session ended first or the agent failed to boot (`result` says which).
    bool wait_ready(RunResult& result);
    // Runs one command to its end. Never throws for what the guest does; throws ConfigError
    // for a request that cannot be encoded (encode_run).
    [[nodiscard]] RunResult run(const RunRequest& request, RunIo& io);

    // From any thread while run() runs (ignored otherwise): forward a signal to the command's
    // process group, or the terminal's new size.
    bool signal(int signo); // false when no run is in progress
    void resize(uint16_t rows, uint16_t cols);

    // Whether the session can run another command.
    [[nodiscard]] bool alive() const { return !dead_; }

private:
    void send_control(const std::vector<uint8_t>& message);
    // Reads the control port; false when it closed or the agent broke the protocol.
    bool read_control(std::vector<AgentMessage>& messages, RunResult& result);

    AgentChannel channel_;
    int abort_fd_;
    MessageReader reader_;
    std::mutex control_mutex_; // writes to the control port come from several threads
    bool ready_ = false;       // READY seen and not yet answered with a RUN
    std::atomic<bool> running_ = false;
    std::atomic<bool> dead_ = false;
};

} // namespace minivmm::agent
