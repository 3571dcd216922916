// The one exception type minivmm throws across its public API.
#pragma once

#include <stdexcept>
#include <string>

namespace minivmm {

// What went wrong, in the terms of the documented exit codes: a bad configuration or
// input is the user's to fix; a host failure (KVM, a device back end) is the machine's.
enum class ErrorKind {
    Config, // bad flag, path, size or image: reported before the guest starts
    Host,   // KVM or another host facility failed
    Expect, // Console::expect() gave up: no match in time, or the guest stopped first
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    [[nodiscard]] ErrorKind kind() const noexcept { return kind_; }

private:
    ErrorKind kind_;
};

// Shorthands for the first two kinds (ExpectError, in console.hpp, is the third).
struct ConfigError : Error {
    explicit ConfigError(const std::string& message) : Error(ErrorKind::Config, message) {}
};
struct HostError : Error {
    explicit HostError(const std::string& message) : Error(ErrorKind::Host, message) {}
};

} // namespace minivmm
