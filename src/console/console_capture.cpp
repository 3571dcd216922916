#include "console/console_capture.hpp"

#include <algorithm>

namespace minivmm::console {

ConsoleCapture::ConsoleCapture(std::size_t limit) : limit_(std::max<std::size_t>(limit, 1)) {}

void ConsoleCapture::write(std::span<const uint8_t> bytes)
{
    {
        std::lock_guard lock(mutex_);
        if (bytes.size() >= limit_) {
            // Only its last limit_ bytes could be kept: the rest is never copied.
            dropped_ += kept_.size() + (bytes.size() - limit_);
            kept_.clear();
            bytes = bytes.last(limit_);
        } else if (kept_.size() + bytes.size() > limit_) {
            // Drop a quarter more than needed, so that trimming is rare (amortised O(1)).
            const std::size_t drop = std::min(kept_.size(), kept_.size() + bytes.size() - limit_ + limit_ / 4);
            kept_.erase(kept_.begin(), kept_.begin() + static_cast<std::ptrdiff_t>(drop));
            dropped_ += drop;
        }
        if (kept_.size() + bytes.size() > kept_.capacity()) {
            // Doubling, but never past the limit (vector::reserve allocates what it is asked).
            kept_.reserve(std::min(limit_, std::max(kept_.capacity() * 2, kept_.size() + bytes.size())));
        }
        kept_.insert(kept_.end(), bytes.begin(), bytes.end());
    }
    grown_.notify_all();
}

void ConsoleCapture::close(const std::string& why)
{
    {
        std::lock_guard lock(mutex_);
        if (closed_) {
            return;
        }
        closed_ = why;
    }
    grown_.notify_all();
}

ConsoleCapture::Snapshot ConsoleCapture::since(uint64_t from) const
{
    std::lock_guard lock(mutex_);
    const uint64_t begin = std::clamp(from, dropped_, dropped_ + kept_.size());
    return Snapshot{begin, std::string(view().substr(static_cast<std::size_t>(begin - dropped_))), closed_};
}

bool ConsoleCapture::wait_past(uint64_t end, std::chrono::steady_clock::time_point deadline) const
{
    std::unique_lock lock(mutex_);
    return grown_.wait_until(lock, deadline, [&] { return closed_ || dropped_ + kept_.size() > end; });
}

std::string ConsoleCapture::text() const
{
    std::lock_guard lock(mutex_);
    return std::string(view());
}

std::size_t ConsoleCapture::bytes_held() const
{
    std::lock_guard lock(mutex_);
    return kept_.capacity();
}

std::string ConsoleCapture::tail(std::size_t lines) const
{
    if (lines == 0) {
        return {};
    }
    std::string text;
    {
        std::lock_guard lock(mutex_);
        const std::string_view kept = view();
        // Find where the last `lines` lines start, from the end; a trailing '\n' closes the
        // last line rather than starting an empty one.
        std::size_t start = kept.size();
        std::size_t seen = 0;
        std::size_t pos = kept.size();
        if (pos > 0 && kept[pos - 1] == '\n') {
            --pos;
        }
        while (seen < lines && pos > 0) {
            const auto nl = kept.rfind('\n', pos - 1);
            ++seen;
            if (nl == std::string::npos) {
                start = 0;
                break;
            }
            start = nl + 1;
            pos = nl;
        }
        text = std::string(kept.substr(start));
    }
    std::erase(text, '\r');
    if (!text.empty() && text.back() != '\n') {
        text.push_back('\n');
    }
    return text;
}

} // namespace minivmm::console
