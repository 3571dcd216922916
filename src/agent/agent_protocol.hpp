// The host's side of the guest agent's wire protocol (agent_wire.h, which the agent in
// guest-agent/ shares): what the agent sends, decoded, and what the host sends, encoded.
// Everything the agent sends is hostile input: MessageReader never throws on it, keeps at
// most one message of at most MVM_MAX_TO_HOST bytes, and stops at the first malformed one.
#pragma once

#include "agent/agent_wire.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace minivmm::agent {

struct Ready {
    uint32_t version = 0;
};

// The command ended: exited with `value`, or was killed by signal `value`.
struct Exited {
    bool killed = false;
    uint32_t value = 0;
    uint64_t stdout_bytes = 0; // what the agent sent on the stdout port during the run
    uint64_t stderr_bytes = 0;

    // The shell's convention: the status, or 128 + the signal.
    [[nodiscard]] int exit_code() const { return killed ? 128 + static_cast<int>(value) : static_cast<int>(value); }
};

// The agent could not boot, or could not start the command.
struct Failed {
    std::string reason;
};

using AgentMessage = std::variant<Ready, Exited, Failed>;

class MessageReader final {
public:
    // Takes the next bytes from the agent; appends each complete message to `out`. After a
    // protocol violation error() says what it was and further input is ignored.
    void feed(std::span<const uint8_t> bytes, std::vector<AgentMessage>& out);
    [[nodiscard]] const std::optional<std::string>& error() const { return error_; }

private:
    void parse_one(uint32_t type, std::span<const uint8_t> payload, std::vector<AgentMessage>& out);

    std::vector<uint8_t> pending_; // at most one message's header and payload
    std::optional<std::string> error_;
};

// What RUN asks for.
struct RunRequest {
    std::vector<std::string> argv; // argv[0] is looked up in the PATH of `env`
    std::vector<std::string> env;  // NAME=VALUE
    std::string cwd;
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> groups;
    bool tty = false;
    uint16_t rows = 24;
    uint16_t cols = 80;
};

// Each returns a whole message, header included. encode_run throws ConfigError for an empty
// argv, a string with a NUL byte in it, more than MVM_MAX_GROUPS groups or a message larger
// than MVM_MAX_TO_GUEST.
[[nodiscard]] std::vector<uint8_t> encode_run(const RunRequest& request);
[[nodiscard]] std::vector<uint8_t> encode_stdin_end(uint64_t total);
[[nodiscard]] std::vector<uint8_t> encode_resize(uint16_t rows, uint16_t cols);
[[nodiscard]] std::vector<uint8_t> encode_signal(uint32_t signo);
[[nodiscard]] std::vector<uint8_t> encode_output_closed(uint32_t stream); // 1 stdout, 2 stderr

} // namespace minivmm::agent
