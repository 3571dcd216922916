// The I/O thread's event loop: timers and the periodic tick run on time even while a
// descriptor fires on every turn (issue 13, defect 4: the tick ran only when epoll_wait
// timed out, so disk or network traffic starved it).
#include "util/event_loop.hpp"

#include <catch2/catch.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
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
