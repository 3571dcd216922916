// Users' regular expressions (--exit-on, --fail-on, Console::expect): numbers libstdc++ would
// read past a long (undefined behaviour, found by fuzz_cli under UBSan) are refused with a
// message naming them; everything else compiles and matches as std::regex does.
#include "console/user_regex.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using minivmm::console::compile_user_regex;

namespace {

std::string refusal(const std::string& pattern)
{
    try {
        (void)compile_user_regex(pattern);
    } catch (const std::regex_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("user regex: ordinary patterns compile and match as std::regex does", "[unit][console]")
{
    CHECK(std::regex_search("exit code 1234567890123", compile_user_regex("exit code [0-9]+")));
    CHECK(std::regex_search("aaaa", compile_user_regex("a{2,4}")));
    CHECK(std::regex_search("abab", compile_user_regex("(ab)\\1")));
    CHECK(std::regex_search("x{12345678901234567890}", compile_user_regex("x\\{12345678901234567890\\}")));
    CHECK(std::regex_search("\\12345678901234567890", compile_user_regex("\\\\12345678901234567890")));
    CHECK(std::regex_search("1,12345678901234567890", compile_user_regex("1,12345678901234567890")));
    CHECK_THROWS_AS(compile_user_regex("(unclosed"), std::regex_error);
}

TEST_CASE("user regex: backreference and repetition numbers too long to read are refused", "[unit][console]")
{
    const std::string digits(25, '6');
    CHECK_THAT(refusal("x\\" + digits), Catch::Contains("backreference number 666666666666... at offset 2 has more than 6 digits"));
    CHECK_THAT(refusal("a{" + digits + "}"), Catch::Contains("repetition count") && Catch::Contains("offset 2"));
    CHECK_THAT(refusal("a{1," + digits + "}"), Catch::Contains("repetition count") && Catch::Contains("offset 4"));
    CHECK_THAT(refusal("[ab]{1234567}"), Catch::Contains("repetition count 1234567"));
    // The longest accepted number still reaches std::regex (which refuses so many states).
    CHECK_THROWS_AS(compile_user_regex("a{999999}"), std::regex_error);
    CHECK_THAT(refusal("a{999999}"), !Catch::Contains("more than 6 digits"));
}

TEST_CASE("user regex: a configured pattern with such a number is a validation problem", "[unit][console][config]")
{
    minivmm::VmConfig config;
    config.console.fail_on = "x\\" + std::string(25, '6');
    const auto problems = config.validate();
    CHECK(std::any_of(problems.begin(), problems.end(), [](const std::string& p) {
        return p.find("fail-on pattern") != std::string::npos && p.find("more than 6 digits") != std::string::npos;
    }));
}
