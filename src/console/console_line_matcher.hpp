// Watches console output line by line for the patterns that end a run (--fail-on,
// --exit-on): the first line that matches a rule calls that rule's action, once; after
// that nothing more is matched. A line ends at '\n' (a trailing '\r' is removed); a line
// longer than kMaxLine is matched in kMaxLine pieces so memory and matching time stay bounded.
#pragma once

#include "devices/console_output.hpp"

#include <cstddef>
#include <functional>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

namespace minivmm::console {

class ConsoleLineMatcher final : public devices::ConsoleOutput {
public:
    static constexpr std::size_t kMaxLine = 4096;

    struct Rule {
        std::regex pattern;
        std::function<void(const std::string& line)> action;
    };
    // Rules are tried in order on each line: the first that matches wins.
    explicit ConsoleLineMatcher(std::vector<Rule> rules) : rules_(std::move(rules)) {}

    void write(std::span<const uint8_t> bytes) override;

private:
    void match_line();

    std::vector<Rule> rules_;
    std::mutex mutex_;
    std::string line_;
    bool fired_ = false;
};

} // namespace minivmm::console
