// What a file-system operation returns: a value or the errno the guest gets.
#pragma once

#include <utility>
#include <variant>

namespace minivmm::backends {

// A positive errno value (ENOENT, EROFS...).
struct Errno {
    int value = 0;
};

template <typename T>
class FsResult final {
public:
    FsResult(T value) : v_(std::move(value)) {}      // NOLINT: implicit, as std::expected
    FsResult(Errno error) : v_(error) {}             // NOLINT
    [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
    [[nodiscard]] int error() const { return ok() ? 0 : std::get<Errno>(v_).value; }
    [[nodiscard]] T& value() { return std::get<T>(v_); }
    [[nodiscard]] const T& value() const { return std::get<T>(v_); }
    [[nodiscard]] T* operator->() { return &value(); }
    [[nodiscard]] const T* operator->() const { return &value(); }

private:
    std::variant<T, Errno> v_;
};

// For operations with nothing to return.
struct Done {};
using FsStatus = FsResult<Done>;
inline FsStatus ok_status() { return Done{}; }

} // namespace minivmm::backends
