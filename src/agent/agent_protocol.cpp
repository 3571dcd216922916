#include "agent/agent_protocol.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace minivmm::agent {
namespace {

uint32_t get_u32(std::span<const uint8_t> p, size_t at)
{
    return uint32_t{p[at]} | uint32_t{p[at + 1]} << 8 | uint32_t{p[at + 2]} << 16 | uint32_t{p[at + 3]} << 24;
}

uint64_t get_u64(std::span<const uint8_t> p, size_t at) { return get_u32(p, at) | uint64_t{get_u32(p, at + 4)} << 32; }

void put_u16(std::vector<uint8_t>& out, uint16_t v)
{
    out.push_back(static_cast<uint8_t>(v));
    out.push_back(static_cast<uint8_t>(v >> 8));
}

void put_u32(std::vector<uint8_t>& out, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

void put_u64(std::vector<uint8_t>& out, uint64_t v)
{
    put_u32(out, static_cast<uint32_t>(v));
    put_u32(out, static_cast<uint32_t>(v >> 32));
}

void put_string(std::vector<uint8_t>& out, const std::string& s, const char* what)
{
    if (s.find('\0') != std::string::npos) {
        throw ConfigError(fmt::format("{} '{}' holds a NUL byte", what, s.c_str()));
    }
    if (s.size() > MVM_MAX_TO_GUEST) {
        throw ConfigError(fmt::format("{} is longer than {} bytes", what, MVM_MAX_TO_GUEST));
    }
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}

std::vector<uint8_t> message(uint32_t type, const std::vector<uint8_t>& payload)
{
    std::vector<uint8_t> out;
    out.reserve(MVM_HEADER_SIZE + payload.size());
    put_u32(out, type);
    put_u32(out, static_cast<uint32_t>(payload.size()));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

} // namespace

void MessageReader::feed(std::span<const uint8_t> bytes, std::vector<AgentMessage>& out)
{
    while (!bytes.empty() && !error_) {
        // Fill the header first, then exactly the payload it announces.
        const size_t want_header = pending_.size() < MVM_HEADER_SIZE ? MVM_HEADER_SIZE - pending_.size() : 0;
        if (want_header > 0) {
            const size_t n = std::min(want_header, bytes.size());
            pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
            bytes = bytes.subspan(n);
            if (pending_.size() < MVM_HEADER_SIZE) {
                return;
            }
        }
        const uint32_t length = get_u32(pending_, 4);
        if (length > MVM_MAX_TO_HOST) {
            error_ = fmt::format("the guest agent sent a message of {} bytes (at most {})", length, MVM_MAX_TO_HOST);
            pending_.clear();
            return;
        }
        const size_t have = pending_.size() - MVM_HEADER_SIZE;
        const size_t n = std::min<size_t>(length - have, bytes.size());
        pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
        bytes = bytes.subspan(n);
        if (pending_.size() - MVM_HEADER_SIZE == length) {
            const uint32_t type = get_u32(pending_, 0);
            parse_one(type, std::span(pending_).subspan(MVM_HEADER_SIZE), out);
            pending_.clear();
        }
    }
}

void MessageReader::parse_one(uint32_t type, std::span<const uint8_t> payload, std::vector<AgentMessage>& out)
{
    switch (type) {
    case MVM_MSG_READY:
        if (payload.size() == 4) {
            out.emplace_back(Ready{get_u32(payload, 0)});
            return;
        }
        break;
    case MVM_MSG_EXIT:
        if (payload.size() == MVM_EXIT_PAYLOAD_SIZE) {
            const uint32_t how = get_u32(payload, 0);
            const uint32_t value = get_u32(payload, 4);
            // An exit status is 0-255 and a signal 1-64: anything else is not what the agent sends.
            if ((how == MVM_EXITED && value <= 255) || (how == MVM_KILLED && value >= 1 && value <= 64)) {
                out.emplace_back(Exited{how == MVM_KILLED, value, get_u64(payload, 8), get_u64(payload, 16)});
                return;
            }
        }
        break;
    case MVM_MSG_FAILED:
        if (payload.size() <= MVM_MAX_FAILED_TEXT) {
            // Printed on the host: control characters become '?', so the guest cannot drive
            // the terminal through minivmm's error line.
            std::string reason(payload.begin(), payload.end());
            std::replace_if(
                reason.begin(), reason.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; },
                '?');
            out.emplace_back(Failed{std::move(reason)});
            return;
        }
        break;
    default:
        error_ = fmt::format("the guest agent sent a message of unknown type {}", type);
        return;
    }
    error_ = fmt::format("the guest agent sent a malformed message (type {}, {} bytes)", type, payload.size());
}

std::vector<uint8_t> encode_run(const RunRequest& request)
{
    if (request.argv.empty() || request.argv.front().empty()) {
        throw ConfigError("no command to run");
    }
    if (request.groups.size() > MVM_MAX_GROUPS) {
        throw ConfigError(fmt::format("{} supplementary groups, more than {}", request.groups.size(), MVM_MAX_GROUPS));
    }
    std::vector<uint8_t> payload;
    put_u32(payload, request.tty ? MVM_RUN_TTY : 0);
    put_u32(payload, request.uid);
    put_u32(payload, request.gid);
    put_u16(payload, request.rows);
    put_u16(payload, request.cols);
    put_u32(payload, static_cast<uint32_t>(request.groups.size()));
    put_u32(payload, static_cast<uint32_t>(request.argv.size()));
    put_u32(payload, static_cast<uint32_t>(request.env.size()));
    for (const uint32_t group : request.groups) {
        put_u32(payload, group);
    }
    put_string(payload, request.cwd, "working directory");
    for (const auto& arg : request.argv) {
        put_string(payload, arg, "argument");
    }
    for (const auto& var : request.env) {
        put_string(payload, var, "environment variable");
    }
    if (payload.size() > MVM_MAX_TO_GUEST) {
        throw ConfigError(fmt::format("the command, its arguments and environment take {} bytes, more than {}",
                                      payload.size(), MVM_MAX_TO_GUEST));
    }
    return message(MVM_MSG_RUN, payload);
}

std::vector<uint8_t> encode_stdin_end(uint64_t total)
{
    std::vector<uint8_t> payload;
    put_u64(payload, total);
    return message(MVM_MSG_STDIN_END, payload);
}

std::vector<uint8_t> encode_resize(uint16_t rows, uint16_t cols)
{
    std::vector<uint8_t> payload;
    put_u16(payload, rows);
    put_u16(payload, cols);
    return message(MVM_MSG_RESIZE, payload);
}

std::vector<uint8_t> encode_signal(uint32_t signo)
{
    std::vector<uint8_t> payload;
    put_u32(payload, signo);
    return message(MVM_MSG_SIGNAL, payload);
}

std::vector<uint8_t> encode_output_closed(uint32_t stream)
{
    std::vector<uint8_t> payload;
    put_u32(payload, stream);
    return message(MVM_MSG_OUTPUT_CLOSED, payload);
}

} // namespace minivmm::agent
