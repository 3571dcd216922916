// The I/O thread's event loop: timers and the periodic tick run on time even while a
// descriptor fires on every turn (issue 13, defect 4: the tick ran only when epoll_wait
// timed out, so disk or network traffic starved it); poll sources frame every turn.
#include "util/event_loop.hpp"

#include <catch2/catch.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace minivmm;
using namespace std::chrono_literals;

namespace {

class LoopThread final {
public:
    LoopThread() : thread_([this] { loop.run(); }) {}
    ~LoopThread()
    {
        loop.stop();
        thread_.join();
    }
    util::EventLoop loop;

private:
    std::thread thread_;
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s)
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

} // namespace

TEST_CASE("event loop: the tick runs while a descriptor is always ready", "[event_loop]")
{
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], "x", 1) == 1); // never drained: level-triggered, ready every turn
    std::atomic<uint64_t> fired{0};
    std::atomic<uint64_t> ticks{0};
    {
        LoopThread t;
        REQUIRE(t.loop.add(fds[0], EPOLLIN, [&](uint32_t) { ++fired; }));
        t.loop.set_tick(5ms, [&] { ++ticks; });
        CHECK(eventually([&] { return ticks.load() >= 10; }));
        CHECK(fired.load() > ticks.load());
        t.loop.remove(fds[0]);
    }
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("event loop: timers run in deadline order and can be cancelled", "[event_loop]")
{
    std::mutex mutex;
    std::vector<int> order;
    auto record = [&](int n) {
        return [&, n] {
            std::lock_guard lock(mutex);
            order.push_back(n);
        };
    };
    LoopThread t;
    const auto now = util::EventLoop::Clock::now();
    t.loop.add_timer(now + 30ms, record(3));
    t.loop.add_timer(now + 10ms, record(1));
    const auto cancelled = t.loop.add_timer(now + 20ms, record(99));
    t.loop.add_timer(now + 20ms, record(2));
    t.loop.cancel_timer(cancelled);
    t.loop.cancel_timer(cancelled); // twice: no effect
    REQUIRE(eventually([&] {
        std::lock_guard lock(mutex);
        return order.size() >= 3;
    }));
    std::this_thread::sleep_for(40ms);
    std::lock_guard lock(mutex);
    CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("event loop: a timer added from another thread wakes a loop with nothing to do", "[event_loop]")
{
    LoopThread t;
    std::this_thread::sleep_for(20ms); // the loop is in epoll_wait with no timeout
    std::atomic<bool> ran{false};
    const auto added = std::chrono::steady_clock::now();
    t.loop.add_timer(added, [&] { ran = true; });
    REQUIRE(eventually([&] { return ran.load(); }, 2s));
    CHECK(std::chrono::steady_clock::now() - added < 1s);
}

TEST_CASE("event loop: a timer callback may add another timer", "[event_loop]")
{
    LoopThread t;
    std::atomic<int> chain{0};
    std::function<void()> step = [&] {
        if (++chain < 5) {
            t.loop.add_timer(util::EventLoop::Clock::now() + 1ms, step);
        }
    };
    t.loop.add_timer(util::EventLoop::Clock::now(), step);
    CHECK(eventually([&] { return chain.load() == 5; }));
}

namespace {

// A poll source that records the order of its calls and the loop's turns.
class RecordingSource final : public util::PollSource {
public:
    explicit RecordingSource(std::optional<std::chrono::milliseconds> limit = std::nullopt) : limit_(limit) {}

    std::optional<std::chrono::milliseconds> prepare() override
    {
        std::lock_guard lock(mutex);
        calls.push_back('p');
        ++prepares;
        return limit_;
    }
    void dispatch() override
    {
        std::lock_guard lock(mutex);
        calls.push_back('d');
        ++dispatches;
        if (on_dispatch) {
            on_dispatch();
        }
    }

    std::mutex mutex;
    std::string calls;
    std::atomic<int> prepares{0};
    std::atomic<int> dispatches{0};
    std::function<void()> on_dispatch;

private:
    std::optional<std::chrono::milliseconds> limit_;
};

} // namespace

TEST_CASE("event loop: a poll source prepares before each wait and dispatches after the handlers", "[event_loop]")
{
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    RecordingSource source;
    std::atomic<bool> handled{false};
    {
        LoopThread t;
        t.loop.add_source(source);
        REQUIRE(t.loop.add(fds[0], EPOLLIN, [&](uint32_t) {
            char c = 0;
            REQUIRE(::read(fds[0], &c, 1) == 1);
            std::lock_guard lock(source.mutex);
            source.calls.push_back('h');
            handled = true;
        }));
        t.loop.wake(); // a turn with the fd watched: the source runs before the wait
        REQUIRE(eventually([&] { return source.dispatches.load() >= 1; }));
        REQUIRE(::write(fds[1], "x", 1) == 1);
        REQUIRE(eventually([&] { return handled.load() && source.dispatches.load() >= 2; }));
        t.loop.remove(fds[0]);
    }
    std::lock_guard lock(source.mutex);
    // Every turn is prepare ... dispatch, and the handler runs inside a turn, before its dispatch.
    const auto h = source.calls.find('h');
    REQUIRE(h != std::string::npos);
    CHECK(source.calls.substr(h - 1, 3) == "phd");
    for (size_t i = 0; i + 1 < source.calls.size(); ++i) {
        if (source.calls[i] == 'p') {
            CHECK(source.calls[i + 1] != 'p');
        }
    }
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("event loop: a poll source's limit bounds the wait, so it runs with nothing ready", "[event_loop]")
{
    RecordingSource source(5ms);
    LoopThread t;
    t.loop.add_source(source);
    t.loop.wake();
    // Without the limit the loop would sleep in epoll_wait for good: nothing else is watched.
    CHECK(eventually([&] { return source.dispatches.load() >= 10; }, 2s));
}

TEST_CASE("event loop: wake() from another thread runs another turn; on the loop thread it is free", "[event_loop]")
{
    RecordingSource source;
    LoopThread t;
    t.loop.add_source(source);
    t.loop.wake();
    REQUIRE(eventually([&] { return source.prepares.load() >= 1; }));
    std::this_thread::sleep_for(20ms); // the loop sleeps: no timers, no limit
    const int before = source.prepares.load();
    std::this_thread::sleep_for(20ms);
    CHECK(source.prepares.load() == before);
    t.loop.wake();
    CHECK(eventually([&] { return source.prepares.load() > before; }));
    // From the loop thread, wake() writes nothing: the next turn's prepare comes anyway, and
    // the loop does not spin on a wake-up it gave itself.
    std::atomic<int> after{0};
    {
        std::lock_guard lock(source.mutex);
        source.on_dispatch = [&] { t.loop.wake(); };
    }
    t.loop.add_timer(util::EventLoop::Clock::now(), [&] { after = source.prepares.load(); });
    REQUIRE(eventually([&] { return after.load() > 0; }));
    std::this_thread::sleep_for(50ms);
    CHECK(source.prepares.load() <= after.load() + 2);
}

TEST_CASE("event loop: a source removed during a turn is not dispatched in it", "[event_loop]")
{
    RecordingSource first;
    RecordingSource second;
    LoopThread t;
    first.on_dispatch = [&] { t.loop.remove_source(second); }; // on the loop thread
    t.loop.add_source(first);
    t.loop.add_source(second);
    t.loop.wake();
    REQUIRE(eventually([&] { return first.dispatches.load() >= 1; }));
    t.loop.wake();
    REQUIRE(eventually([&] { return first.dispatches.load() >= 2; }));
    CHECK(second.prepares.load() == 1);
    CHECK(second.dispatches.load() == 0);
}
