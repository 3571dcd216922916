#include "console/console_line_matcher.hpp"

namespace minivmm::console {

void ConsoleLineMatcher::write(std::span<const uint8_t> bytes)
{
    std::lock_guard lock(mutex_);
    for (const uint8_t byte : bytes) {
        if (fired_) {
            return;
        }
        if (byte == '\n') {
            match_line();
            continue;
        }
        line_.push_back(static_cast<char>(byte));
        if (line_.size() >= kMaxLine) {
            match_line();
        }
    }
}

void ConsoleLineMatcher::match_line()
{
    if (!line_.empty() && line_.back() == '\r') {
        line_.pop_back();
    }
    for (const auto& rule : rules_) {
        if (std::regex_search(line_, rule.pattern)) {
            fired_ = true;
            rule.action(line_);
            break;
        }
    }
    line_.clear();
}

} // namespace minivmm::console
