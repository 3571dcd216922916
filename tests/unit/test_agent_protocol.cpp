// The host's side of the guest agent's wire protocol (agent/agent_protocol.hpp): messages cut
// anywhere, every malformed message refused with one error and nothing after it taken, text
// from the guest made printable, and the layout of what the host sends.
#include "agent/agent_protocol.hpp"
#include "support/config_error.hpp"

#include <catch2/catch.hpp>

using namespace minivmm;
using namespace minivmm::agent;

namespace {

void put32(std::vector<uint8_t>& v, uint32_t x)
{
    for (int i = 0; i < 4; ++i) {
        v.push_back(static_cast<uint8_t>(x >> (8 * i)));
    }
}

std::vector<uint8_t> frame(uint32_t type, const std::vector<uint8_t>& payload)
{
    std::vector<uint8_t> out;
    put32(out, type);
    put32(out, static_cast<uint32_t>(payload.size()));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

std::vector<uint8_t> exit_payload(uint32_t how, uint32_t value, uint32_t out_bytes, uint32_t err_bytes)
{
    std::vector<uint8_t> p;
    put32(p, how);
    put32(p, value);
    put32(p, out_bytes);
    put32(p, 0);
    put32(p, err_bytes);
    put32(p, 0);
    return p;
}

std::vector<AgentMessage> feed(MessageReader& reader, const std::vector<uint8_t>& bytes)
{
    std::vector<AgentMessage> out;
    reader.feed(bytes, out);
    return out;
}

} // namespace

TEST_CASE("agent protocol: messages are found however the bytes are cut", "[unit][agent]")
{
    std::vector<uint8_t> stream;
    std::vector<uint8_t> ready;
    put32(ready, MVM_PROTOCOL_VERSION);
    for (const auto& part : {frame(MVM_MSG_READY, ready), frame(MVM_MSG_EXIT, exit_payload(MVM_EXITED, 3, 10, 20)),
                             frame(MVM_MSG_FAILED, {'n', 'o', '\n', 0x1b, '['}),
                             frame(MVM_MSG_EXIT, exit_payload(MVM_KILLED, 9, 0, 0))}) {
        stream.insert(stream.end(), part.begin(), part.end());
    }
    for (size_t step : {size_t{1}, size_t{3}, size_t{7}, stream.size()}) {
        MessageReader reader;
        std::vector<AgentMessage> got;
        for (size_t pos = 0; pos < stream.size(); pos += step) {
            reader.feed(std::span(stream).subspan(pos, std::min(step, stream.size() - pos)), got);
        }
        INFO("step " << step);
        CHECK_FALSE(reader.error());
        REQUIRE(got.size() == 4);
        CHECK(std::get<Ready>(got[0]).version == MVM_PROTOCOL_VERSION);
        const auto exited = std::get<Exited>(got[1]);
        CHECK_FALSE(exited.killed);
        CHECK(exited.exit_code() == 3);
        CHECK(exited.stdout_bytes == 10);
        CHECK(exited.stderr_bytes == 20);
        CHECK(std::get<Failed>(got[2]).reason == "no??["); // control characters are not printed
        CHECK(std::get<Exited>(got[3]).exit_code() == 128 + 9);
    }
}

TEST_CASE("agent protocol: a malformed message stops the reader", "[unit][agent]")
{
    const std::vector<std::pair<std::vector<uint8_t>, std::string>> cases{
        {frame(99, {}), "unknown type 99"},
        {frame(MVM_MSG_READY, {1, 0}), "malformed message (type 1, 2 bytes)"},
        {frame(MVM_MSG_EXIT, exit_payload(MVM_EXITED, 256, 0, 0)), "malformed"},
        {frame(MVM_MSG_EXIT, exit_payload(MVM_KILLED, 0, 0, 0)), "malformed"},
        {frame(MVM_MSG_EXIT, exit_payload(7, 1, 0, 0)), "malformed"},
        {frame(MVM_MSG_FAILED, std::vector<uint8_t>(MVM_MAX_FAILED_TEXT + 1, 'x')), "malformed"},
    };
    for (const auto& [bytes, error] : cases) {
        MessageReader reader;
        auto stream = bytes;
        const auto ok = frame(MVM_MSG_EXIT, exit_payload(MVM_EXITED, 0, 0, 0));
        stream.insert(stream.end(), ok.begin(), ok.end());
        CHECK(feed(reader, stream).empty()); // nothing after the bad message either
        REQUIRE(reader.error());
        CHECK_THAT(*reader.error(), Catch::Contains(error));
    }
}

TEST_CASE("agent protocol: a huge length is refused before anything is buffered", "[unit][agent]")
{
    MessageReader reader;
    std::vector<uint8_t> header;
    put32(header, MVM_MSG_FAILED);
    put32(header, 0xffffffff);
    CHECK(feed(reader, header).empty());
    REQUIRE(reader.error());
    CHECK_THAT(*reader.error(), Catch::Contains("4294967295 bytes"));
}

TEST_CASE("agent protocol: RUN carries the whole request in its documented layout", "[unit][agent]")
{
    RunRequest r;
    r.argv = {"ls", "-l"};
    r.env = {"A=1"};
    r.cwd = "/w";
    r.uid = 1000;
    r.gid = 100;
    r.groups = {27, 100};
    r.tty = true;
    r.rows = 50;
    r.cols = 132;
    const auto m = encode_run(r);
    std::vector<uint8_t> expected;
    put32(expected, MVM_MSG_RUN);
    put32(expected, static_cast<uint32_t>(m.size() - MVM_HEADER_SIZE));
    put32(expected, MVM_RUN_TTY);
    put32(expected, 1000);
    put32(expected, 100);
    expected.insert(expected.end(), {50, 0, 132, 0});
    put32(expected, 2); // groups
    put32(expected, 2); // argc
    put32(expected, 1); // envc
    put32(expected, 27);
    put32(expected, 100);
    for (const std::string s : {"/w", "ls", "-l", "A=1"}) {
        put32(expected, static_cast<uint32_t>(s.size()));
        expected.insert(expected.end(), s.begin(), s.end());
    }
    CHECK(m == expected);
    CHECK(encode_stdin_end(0x0102030405) ==
          std::vector<uint8_t>{17, 0, 0, 0, 8, 0, 0, 0, 5, 4, 3, 2, 1, 0, 0, 0});
    CHECK(encode_resize(24, 80) == std::vector<uint8_t>{18, 0, 0, 0, 4, 0, 0, 0, 24, 0, 80, 0});
    CHECK(encode_signal(2) == std::vector<uint8_t>{19, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0});
    CHECK(encode_output_closed(1) == std::vector<uint8_t>{20, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0});
}

TEST_CASE("agent protocol: requests RUN cannot carry are refused", "[unit][agent]")
{
    RunRequest r;
    CHECK_THAT(test::config_error([&] { (void)encode_run(r); }), Catch::Contains("no command"));
    r.argv = {"echo", std::string("a\0b", 3)};
    CHECK_THAT(test::config_error([&] { (void)encode_run(r); }), Catch::Contains("holds a NUL byte"));
    r.argv = {"echo"};
    r.env = {std::string(MVM_MAX_TO_GUEST, 'x')};
    CHECK_THAT(test::config_error([&] { (void)encode_run(r); }), Catch::Contains("more than"));
}
