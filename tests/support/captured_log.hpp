// Catches what minivmm logs through spdlog's default logger while the object lives (at
// `level` and above), so a test can count the lines a hostile guest made a device log. The
// previous default logger and level come back when it goes.
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace minivmm::test {

class CapturedLog final {
public:
    explicit CapturedLog(spdlog::level::level_enum level = spdlog::level::trace)
        : previous_(spdlog::default_logger()), previous_level_(spdlog::get_level()), sink_(std::make_shared<Sink>())
    {
        auto logger = std::make_shared<spdlog::logger>("captured", sink_);
        logger->set_level(level);
        spdlog::set_default_logger(logger);
    }
    ~CapturedLog()
    {
        spdlog::set_default_logger(previous_);
        spdlog::set_level(previous_level_);
    }
    CapturedLog(const CapturedLog&) = delete;
    CapturedLog& operator=(const CapturedLog&) = delete;

    [[nodiscard]] std::vector<std::string> lines() const
    {
        std::lock_guard lock(sink_->lines_mutex);
        return sink_->lines;
    }
    // How many lines contain `text`.
    [[nodiscard]] std::size_t count(const std::string& text) const
    {
        const auto all = lines();
        return static_cast<std::size_t>(
            std::count_if(all.begin(), all.end(), [&](const std::string& line) { return line.find(text) != std::string::npos; }));
    }

private:
    struct Sink final : spdlog::sinks::base_sink<std::mutex> {
        std::mutex lines_mutex;
        std::vector<std::string> lines;

    protected:
        void sink_it_(const spdlog::details::log_msg& msg) override
        {
            std::lock_guard lock(lines_mutex);
            lines.emplace_back(msg.payload.begin(), msg.payload.end());
        }
        void flush_() override {}
    };

    std::shared_ptr<spdlog::logger> previous_;
    spdlog::level::level_enum previous_level_;
    std::shared_ptr<Sink> sink_;
};

} // namespace minivmm::test
