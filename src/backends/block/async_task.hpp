// C++20 coroutines for disk formats whose requests take several dependent steps (load a
// table, read what a write does not cover, write, update the table): a request waiting for
// the disk suspends, and the I/O thread resumes it when its data is there, so one slow
// request never stalls the others. Single-threaded: everything runs on the thread that
// drives the backend, and a coroutine is only ever resumed from Scheduler::run_ready(),
// never from inside the code that woke it.
//
//   Task<T>    a lazily started coroutine returning T; `co_await task` runs it to the end.
//   Scheduler  the coroutines ready to resume.
//   WaitList   coroutines waiting for an event (a table loaded, a lock released, ...).
#pragma once

#include <coroutine>
#include <cstddef>
#include <new>
#include <deque>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace minivmm::backends {

namespace detail {

// Coroutine frames come and go with every request: this thread's frames are recycled by size
// (64-byte classes up to 4 KiB, at most kKeep of each), so the I/O path does not call malloc.
class FramePool final {
public:
    static constexpr std::size_t kStep = 64;
    static constexpr std::size_t kClasses = 64;
    static constexpr std::size_t kKeep = 512;

    static void* allocate(std::size_t n)
    {
        const std::size_t c = (n + kStep - 1) / kStep;
        if (c < kClasses) {
            auto& free = local().free_[c];
            if (!free.empty()) {
                void* p = free.back();
                free.pop_back();
                return p;
            }
            return ::operator new(c * kStep);
        }
        return ::operator new(n);
    }
    static void release(void* p, std::size_t n) noexcept
    {
        const std::size_t c = (n + kStep - 1) / kStep;
        if (c < kClasses) {
            auto& free = local().free_[c];
            if (free.size() < kKeep) {
                try {
                    free.push_back(p);
                    return;
                } catch (...) { // no room to remember it: give it back
                }
            }
            ::operator delete(p);
            return;
        }
        ::operator delete(p);
    }

private:
    ~FramePool()
    {
        for (std::size_t c = 0; c < kClasses; ++c) {
            for (void* p : free_[c]) {
                ::operator delete(p);
            }
        }
    }
    static FramePool& local()
    {
        thread_local FramePool pool;
        return pool;
    }
    std::vector<void*> free_[kClasses];
};

struct FramePoolAllocated {
    static void* operator new(std::size_t n) { return FramePool::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { FramePool::release(p, n); }
};

struct TaskPromiseBase : FramePoolAllocated {
    std::coroutine_handle<> continuation;
    std::exception_ptr exception;

    std::suspend_always initial_suspend() noexcept { return {}; }
    struct FinalAwaiter {
        bool await_ready() noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> done) noexcept
        {
            const auto next = done.promise().continuation;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }
};

} // namespace detail

// What Task<T> and Task<void> share: owning the coroutine, and starting it when awaited (the
// awaiter resumes when it ends, by symmetric transfer: no stack grows).
template <class Promise>
class TaskHandle {
public:
    TaskHandle(TaskHandle&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    TaskHandle& operator=(TaskHandle&&) = delete;
    TaskHandle(const TaskHandle&) = delete;
    ~TaskHandle()
    {
        if (handle_) {
            handle_.destroy();
        }
    }

    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept
    {
        handle_.promise().continuation = caller;
        return handle_;
    }

protected:
    explicit TaskHandle(std::coroutine_handle<Promise> h) : handle_(h) {}
    // The promise after the coroutine ended: its exception rethrown, if any.
    Promise& finished()
    {
        if (handle_.promise().exception) {
            std::rethrow_exception(handle_.promise().exception);
        }
        return handle_.promise();
    }

private:
    std::coroutine_handle<Promise> handle_;
};

// How a Task<T>'s promise keeps its result.
template <class T>
struct TaskResult : detail::TaskPromiseBase {
    std::optional<T> value;
    template <class U>
    void return_value(U&& v)
    {
        value.emplace(std::forward<U>(v));
    }
};

template <>
struct TaskResult<void> : detail::TaskPromiseBase {
    void return_void() {}
};

template <class T>
class Task;

template <class T>
struct TaskPromise : TaskResult<T> {
    Task<T> get_return_object();
};

template <class T>
class [[nodiscard]] Task final : public TaskHandle<TaskPromise<T>> {
public:
    using promise_type = TaskPromise<T>;

    T await_resume()
    {
        if constexpr (std::is_void_v<T>) {
            this->finished();
        } else {
            return std::move(*this->finished().value);
        }
    }

private:
    friend struct TaskPromise<T>;
    explicit Task(std::coroutine_handle<promise_type> h) : TaskHandle<promise_type>(h) {}
};

template <class T>
Task<T> TaskPromise<T>::get_return_object()
{
    return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}

// A coroutine nobody awaits: it starts at once and frees itself at the end. The roots of
// request coroutines; their bodies must not let an exception escape.
struct Detached {
    struct promise_type : detail::FramePoolAllocated {
        Detached get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
};

class Scheduler final {
public:
    void post(std::coroutine_handle<> h) { ready_.push_back(h); }
    [[nodiscard]] bool empty() const { return ready_.empty(); }
    // Resumes the ready coroutines, including those they make ready in turn.
    void run_ready()
    {
        while (!ready_.empty()) {
            const auto h = ready_.front();
            ready_.pop_front();
            h.resume();
        }
    }

private:
    std::deque<std::coroutine_handle<>> ready_;
};

class WaitList final {
public:
    struct Awaiter {
        WaitList& list;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) { list.waiting_.push_back(h); }
        void await_resume() const noexcept {}
    };
    // Suspends until the next wake_all().
    [[nodiscard]] Awaiter wait() { return Awaiter{*this}; }
    void wake_all(Scheduler& scheduler)
    {
        for (const auto h : waiting_) {
            scheduler.post(h);
        }
        waiting_.clear();
    }
    [[nodiscard]] bool empty() const { return waiting_.empty(); }

private:
    std::vector<std::coroutine_handle<>> waiting_;
};

} // namespace minivmm::backends
