// libFuzzer target: what the guest agent sends on its control port, as the host reads it
// (agent/agent_protocol.hpp). The input is the byte stream, fed in pieces whose sizes the
// first byte seeds, so messages are cut at every place. MessageReader must never crash, never
// hold more than one message (at most MVM_HEADER_SIZE + MVM_MAX_TO_HOST bytes), and after an
// error take nothing more.
#include "agent/agent_protocol.hpp"
#include "fuzz_support.hpp"

#include <cstdlib>

using namespace minivmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    uint32_t cut = in.take<uint8_t>() | 1U;
    const auto stream = in.rest();
    agent::MessageReader reader;
    std::vector<agent::AgentMessage> messages;
    size_t pos = 0;
    while (pos < stream.size()) {
        const size_t n = std::min<size_t>(cut, stream.size() - pos);
        const bool had_error = reader.error().has_value();
        const size_t before = messages.size();
        reader.feed(stream.subspan(pos, n), messages);
        if (had_error && messages.size() != before) {
            std::abort(); // nothing is taken after an error
        }
        pos += n;
        cut = cut * 1103515245U + 12345U;
        cut = (cut >> 16) % 97 + 1;
    }
    for (const auto& message : messages) {
        if (const auto* failed = std::get_if<agent::Failed>(&message)) {
            if (failed->reason.size() > MVM_MAX_FAILED_TEXT) {
                std::abort();
            }
            for (const char c : failed->reason) {
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    std::abort(); // control characters never reach the host's terminal
                }
            }
        }
    }
    return 0;
}
