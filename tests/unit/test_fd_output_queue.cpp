// Console output never blocks the device that writes it (issue 13, defect 3): FdOutputQueue
// against a pipe that is read, one nobody reads, one whose reader went away, a regular file
// and a socket.
#include "console/fd_output_queue.hpp"
#include "memory/byte_span.hpp"
#include "support/file_contents.hpp"
#include "support/captured_log.hpp"
#include "util/event_loop.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace minivmm;
using namespace std::chrono_literals;
using console::FdOutputQueue;

namespace {

struct Pipe {
    util::UniqueFd read_end;
    util::UniqueFd write_end;
    Pipe()
    {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        read_end = util::UniqueFd(fds[0]);
        write_end = util::UniqueFd(fds[1]);
    }
};

// An event loop on a thread of its own, as the VM's I/O thread.
struct LoopThread {
    util::EventLoop loop;
    std::thread thread{[this] { loop.run(); }};
    void stop()
    {
        if (thread.joinable()) {
            loop.stop();
            thread.join();
        }
    }
    ~LoopThread() { stop(); }
};

std::span<const uint8_t> as_u8(const std::string& s) { return memory::as_u8(std::as_bytes(std::span(s))); }

std::string read_available(int fd)
{
    std::string out;
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    char buf[65536];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    ::fcntl(fd, F_SETFL, flags);
    return out;
}

// Runs `body` with a deadline; false if it did not return in time (the thread is then left to
// the caller's clean-up, which must unblock it).
bool returns_within(std::chrono::milliseconds limit, const std::function<void()>& body, const std::function<void()>& unblock)
{
    std::atomic<bool> done{false};
    std::thread thread([&] {
        const sigset_t set = [] {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, SIGPIPE);
            return s;
        }();
        pthread_sigmask(SIG_BLOCK, &set, nullptr); // an old blocking writer sees EPIPE on unblock
        body();
        done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    const bool in_time = done;
    if (!in_time) {
        unblock();
    }
    thread.join();
    return in_time;
}

} // namespace

TEST_CASE("console output: a pipe that is read gets every byte in order", "[unit][console][output]")
{
    Pipe pipe;
    std::string expected;
    std::string got;
    {
        LoopThread io;
        FdOutputQueue queue(pipe.write_end.get(), "test pipe", 4096);
        queue.start(io.loop);
        std::thread reader([&] {
            char buf[1000];
            ssize_t n = 0;
            while ((n = ::read(pipe.read_end.get(), buf, sizeof(buf))) > 0) {
                got.append(buf, static_cast<size_t>(n));
                if (got.size() == 200 * 1000) {
                    return;
                }
            }
        });
        for (int i = 0; i < 200; ++i) {
            const std::string chunk(1000, static_cast<char>('a' + i % 26));
            expected += chunk;
            // Never more than the capacity waits: write slowly enough for the reader.
            while (queue.stats().written + 4096 < expected.size()) {
                std::this_thread::sleep_for(1ms);
            }
            queue.write(as_u8(chunk));
        }
        reader.join();
        const auto deadline = std::chrono::steady_clock::now() + 5s; // the count follows the write
        while (queue.stats().written < expected.size() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        CHECK(queue.stats().dropped == 0);
        CHECK(queue.stats().written == expected.size());
    }
    CHECK(got == expected);
}

TEST_CASE("console output: a pipe nobody reads never blocks the writer; the excess is dropped and counted",
          "[unit][console][output]")
{
    Pipe pipe;
    constexpr std::size_t kCapacity = 64 * 1024;
    test::CapturedLog log(spdlog::level::warn);
    LoopThread io;
    FdOutputQueue queue(pipe.write_end.get(), "stdout", kCapacity);
    queue.start(io.loop);
    const std::string chunk(4096, 'x');
    constexpr int kChunks = 2048; // 8 MiB: far more than the pipe and the buffer hold
    const bool returned = returns_within(
        10s,
        [&] {
            for (int i = 0; i < kChunks; ++i) {
                queue.write(as_u8(chunk));
            }
        },
        [&] { pipe.read_end.reset(); });
    REQUIRE(returned);
    const auto stats = queue.stats();
    CHECK(stats.written + stats.dropped + queue.bytes_held() >= uint64_t{kChunks} * chunk.size() - kCapacity);
    CHECK(stats.dropped > 0);
    CHECK(queue.bytes_held() <= kCapacity);

    // At the end: a short grace, then one warning with the count.
    const auto start = std::chrono::steady_clock::now();
    io.stop();
    queue.finish(200ms);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(queue.stats().written + queue.stats().dropped == uint64_t{kChunks} * chunk.size());
    REQUIRE(log.lines().size() == 1);
    CHECK_THAT(log.lines()[0], Catch::Contains("bytes of guest output were not written to stdout: it stopped taking"));
    // The caller's fd keeps its flags: the shell's pipe is not left non-blocking.
    CHECK((::fcntl(pipe.write_end.get(), F_GETFL) & O_NONBLOCK) == 0);
}

TEST_CASE("console output: a reader that goes away closes the queue, no SIGPIPE", "[unit][console][output]")
{
    Pipe pipe;
    test::CapturedLog log(spdlog::level::warn);
    LoopThread io;
    FdOutputQueue queue(pipe.write_end.get(), "stdout", 4096);
    queue.start(io.loop);
    queue.write(as_u8("first line\n"));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (queue.stats().written < 11 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    CHECK(read_available(pipe.read_end.get()) == "first line\n");
    pipe.read_end.reset(); // `| head -1` is done
    // SIGPIPE keeps its default action in this process: a write that raised it unblocked
    // would end the test run here.
    for (int i = 0; i < 100; ++i) {
        queue.write(as_u8("more output\n"));
        std::this_thread::sleep_for(1ms);
    }
    while (!queue.stats().closed && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    CHECK(queue.stats().closed);
    queue.write(as_u8("after\n"));
    io.stop();
    queue.finish(100ms);
    CHECK(queue.stats().dropped == 100 * 12 + 6);
    REQUIRE(log.lines().size() == 1);
    CHECK_THAT(log.lines()[0], Catch::Contains("1206 bytes of guest output were not written to stdout: it was closed"));
}

TEST_CASE("console output: finish() writes what is left to a reader that keeps reading", "[unit][console][output]")
{
    Pipe pipe;
    FdOutputQueue queue(pipe.write_end.get(), "stdout", 1 << 20);
    std::string expected;
    for (int i = 0; i < 1000; ++i) {
        const std::string line = "line " + std::to_string(i) + " " + std::string(500, '.') + "\n";
        expected += line;
        queue.write(as_u8(line)); // never started: all of it waits in the buffer
    }
    std::string got;
    std::thread reader([&] {
        char buf[4096];
        ssize_t n = 0;
        while ((n = ::read(pipe.read_end.get(), buf, sizeof(buf))) > 0) {
            got.append(buf, static_cast<size_t>(n));
            std::this_thread::sleep_for(100us); // slow, but never stalled for the grace
        }
    });
    queue.finish(500ms);
    pipe.write_end.reset();
    reader.join();
    CHECK(queue.stats().dropped == 0);
    CHECK(got == expected);
}

TEST_CASE("console output: a regular file and a socket get everything", "[unit][console][output]")
{
    const std::string payload = [] {
        std::string s;
        for (int i = 0; i < 10000; ++i) {
            s += "row " + std::to_string(i) + "\n";
        }
        return s;
    }();
    SECTION("regular file")
    {
        const auto path = std::filesystem::temp_directory_path() / ("minivmm-output-" + std::to_string(::getpid()));
        util::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        REQUIRE(fd);
        {
            LoopThread io;
            FdOutputQueue queue(fd.get(), "file", 1 << 20);
            queue.start(io.loop);
            queue.write(as_u8(payload));
            const auto deadline = std::chrono::steady_clock::now() + 5s;
            while (queue.stats().written < payload.size() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(1ms);
            }
            CHECK(queue.stats().written == payload.size());
        }
        const std::string got = minivmm::test::file_contents(path);
        std::filesystem::remove(path);
        CHECK(got == payload);
    }
    SECTION("socket")
    {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        util::UniqueFd ours(sv[0]);
        util::UniqueFd theirs(sv[1]);
        std::string got;
        std::thread reader([&] {
            char buf[4096];
            ssize_t n = 0;
            while (got.size() < payload.size() && (n = ::read(theirs.get(), buf, sizeof(buf))) > 0) {
                got.append(buf, static_cast<size_t>(n));
            }
        });
        {
            LoopThread io;
            FdOutputQueue queue(ours.get(), "socket", 1 << 20);
            queue.start(io.loop);
            queue.write(as_u8(payload));
            reader.join();
        }
        CHECK(got == payload);
    }
}
