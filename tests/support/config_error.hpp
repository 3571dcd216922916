// The message of the ConfigError a callable throws (the test fails if it throws none).
#pragma once

#include <minivmm/error.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace minivmm::test {

template <typename F>
std::string config_error(F&& f)
{
    try {
        f();
    } catch (const ConfigError& e) {
        return e.what();
    }
    FAIL("no ConfigError thrown");
    return {};
}

} // namespace minivmm::test
