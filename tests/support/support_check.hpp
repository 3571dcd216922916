// The test-support library is shared by the Catch2 tests and the libFuzzer targets, so it
// does not use Catch2: a broken expectation of the support code itself (a full descriptor
// table, a handshake the device refused) throws SupportError, which fails the test case
// that caused it (Catch2 reports the exception) or crashes the fuzz run loudly.
#pragma once

#include <stdexcept>
#include <string>

namespace minivmm::test {

struct SupportError : std::logic_error {
    using std::logic_error::logic_error;
};

inline void support_check(bool ok, const char* what)
{
    if (!ok) {
        throw SupportError(std::string("test support: ") + what);
    }
}

} // namespace minivmm::test
