// The one console input path: send() and a host fd, through a real EventLoop thread, into a
// device (a fake ConsoleInput) that takes bytes only as fast as its "guest" reads them and
// drops what does not fit, as the UART does.
#include "console/console_input_pump.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using namespace minivmm;
using namespace std::chrono_literals;

namespace {

// A device with a small buffer that a "guest" drains by itself at a fixed pace.
class SlowDevice final : public devices::ConsoleInput {
public:
    static constexpr std::size_t kBuffer = 16;
    bool can_receive() const override
    {
        std::lock_guard lock(mutex_);
        return buffered_.size() < kBuffer;
    }
    std::size_t receive(std::span<const uint8_t> bytes) override
    {
        std::lock_guard lock(mutex_);
        if (bytes.empty()) {
            empty_offers_++;
        }
        largest_offer_ = std::max(largest_offer_, bytes.size());
        const std::size_t taken = std::min(kBuffer - buffered_.size(), bytes.size());
        buffered_.append(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(taken));
        return taken;
    }
    // The guest reads everything buffered.
    void guest_reads()
    {
        std::lock_guard lock(mutex_);
        read_ += buffered_;
        buffered_.clear();
    }
    std::string read() const
    {
        std::lock_guard lock(mutex_);
        return read_;
    }
    int empty_offers() const
    {
        std::lock_guard lock(mutex_);
        return empty_offers_;
    }
    std::size_t largest_offer() const
    {
        std::lock_guard lock(mutex_);
        return largest_offer_;
    }

private:
    mutable std::mutex mutex_;
    std::string buffered_;
    std::string read_;
    int empty_offers_ = 0;
    std::size_t largest_offer_ = 0;
};

// An EventLoop on its own thread, with the input's tick, stopped and joined on scope exit.
class LoopThread final {
public:
    explicit LoopThread(console::ConsoleInputPump& input)
    {
        loop_.set_tick(2ms, [&input] { input.on_tick(); });
    }
    void run()
    {
        thread_ = std::thread([this] { loop_.run(); });
    }
    util::EventLoop& loop() { return loop_; }
    ~LoopThread()
    {
        loop_.stop();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    util::EventLoop loop_;
    std::thread thread_;
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

} // namespace

TEST_CASE("sent input reaches the device in order, nothing dropped, at the guest's pace", "[unit][console]")
{
    SlowDevice device;
    console::ConsoleInputPump input;
    input.connect(device);
    // Sent before the loop runs: it waits, as it does before Vm::start().
    input.send(bytes_of("first line\n"));
    LoopThread loop(input);
    input.start(loop.loop(), std::nullopt, false, {});
    loop.run();
    std::string expected = "first line\n";
    std::atomic<bool> done{false};
    std::thread guest([&] {
        while (!done) {
            device.guest_reads();
            std::this_thread::sleep_for(500us);
        }
    });
    for (int i = 0; i < 200; ++i) {
        const std::string line = "line " + std::to_string(i) + " of the paste\n";
        input.send(bytes_of(line));
        expected += line;
    }
    CHECK(eventually([&] { return device.read().size() >= expected.size(); }));
    done = true;
    guest.join();
    device.guest_reads();
    CHECK(device.read() == expected);
    CHECK(device.empty_offers() == 0);
    // Input goes in chunks, not a byte per call; what a full device did not take was
    // offered again, in order (the comparison above).
    CHECK(device.largest_offer() > 1);
}

TEST_CASE("host fd input and send() share the path; EOF ends host input only", "[unit][console]")
{
    SlowDevice device;
    console::ConsoleInputPump input;
    input.connect(device);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    util::UniqueFd read_end(fds[0]);
    util::UniqueFd write_end(fds[1]);
    LoopThread loop(input);
    input.start(loop.loop(), read_end.get(), false, {});
    loop.run();
    REQUIRE(::write(write_end.get(), "typed", 5) == 5);
    CHECK(eventually([&] {
        device.guest_reads();
        return device.read() == "typed";
    }));
    write_end.reset(); // EOF on the host side
    input.send(bytes_of(" sent"));
    CHECK(eventually([&] {
        device.guest_reads();
        return device.read() == "typed sent";
    }));
}

TEST_CASE("Ctrl-A x on an interactive host fd quits; input after close() is discarded", "[unit][console]")
{
    SlowDevice device;
    console::ConsoleInputPump input;
    input.connect(device);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    util::UniqueFd read_end(fds[0]);
    util::UniqueFd write_end(fds[1]);
    std::atomic<int> quits{0};
    LoopThread loop(input);
    input.start(loop.loop(), read_end.get(), true, [&] { quits++; });
    loop.run();
    REQUIRE(::write(write_end.get(), "ab\x01x", 4) == 4);
    CHECK(eventually([&] { return quits.load() == 1; }));
    CHECK(eventually([&] {
        device.guest_reads();
        return device.read() == "ab";
    }));
    input.close();
    input.send(bytes_of("late"));
    std::this_thread::sleep_for(50ms);
    device.guest_reads();
    CHECK(device.read() == "ab");
}
