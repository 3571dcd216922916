// The --exit-on/--fail-on line matcher: whole lines, first rule wins, fires once.
#include "console/console_line_matcher.hpp"

#include <catch2/catch.hpp>

using namespace minivmm;

namespace {

struct Fired {
    std::vector<std::string> what;
};

console::ConsoleLineMatcher make(Fired& fired)
{
    return console::ConsoleLineMatcher(
        {{std::regex("Kernel panic"), [&](const std::string& l) { fired.what.push_back("fail: " + l); }},
         {std::regex("^TESTS (PASSED|DONE)$"), [&](const std::string& l) { fired.what.push_back("exit: " + l); }}});
}

void write_text(devices::ConsoleOutput& out, const std::string& text)
{
    const std::vector<uint8_t> bytes(text.begin(), text.end());
    out.write(bytes);
}

} // namespace

TEST_CASE("a line that matches fires its rule once, with the line", "[unit][console]")
{
    Fired fired;
    auto matcher = make(fired);
    write_text(matcher, "booting\r\nTESTS ");
    CHECK(fired.what.empty()); // the line is not complete yet
    write_text(matcher, "PASSED\r\n");
    REQUIRE(fired.what.size() == 1);
    CHECK(fired.what[0] == "exit: TESTS PASSED"); // '\r' removed, so '$' matches
    write_text(matcher, "Kernel panic\nTESTS DONE\n");
    CHECK(fired.what.size() == 1);
}

TEST_CASE("the first rule wins on a line that matches several", "[unit][console]")
{
    Fired fired;
    auto matcher = make(fired);
    write_text(matcher, "TESTS DONE\n");
    CHECK(fired.what == std::vector<std::string>{"exit: TESTS DONE"});
    Fired both;
    console::ConsoleLineMatcher first({{std::regex("panic"), [&](const std::string&) { both.what.push_back("fail"); }},
                              {std::regex("panic"), [&](const std::string&) { both.what.push_back("exit"); }}});
    write_text(first, "panic\n");
    CHECK(both.what == std::vector<std::string>{"fail"});
}

TEST_CASE("a pattern does not match across lines", "[unit][console]")
{
    Fired fired;
    auto matcher = make(fired);
    write_text(matcher, "Kernel\npanic\nTESTS\nPASSED\n");
    CHECK(fired.what.empty());
}

TEST_CASE("an endless line is matched in bounded pieces", "[unit][console]")
{
    Fired fired;
    auto matcher = make(fired);
    write_text(matcher, std::string(3 * console::ConsoleLineMatcher::kMaxLine, 'x'));
    CHECK(fired.what.empty());
    write_text(matcher, std::string(console::ConsoleLineMatcher::kMaxLine - 20, 'y') + "Kernel panic\n");
    REQUIRE(fired.what.size() == 1);
    CHECK_THAT(fired.what[0], Catch::EndsWith("Kernel panic"));
}
