// One bit per host cluster of an image file, growing with the file: which clusters are in
// use, which hold metadata. Bits past the end read as clear.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

namespace minivmm::backends::qcow2 {

class ClusterBitmap final {
public:
    [[nodiscard]] uint64_t size() const { return bits_; }
    void resize(uint64_t bits)
    {
        words_.resize((bits + 63) / 64, 0);
        if (bits < bits_ && bits % 64 != 0) {
            words_.back() &= (1ULL << (bits % 64)) - 1; // drop bits past the new end
        }
        bits_ = bits;
    }
    [[nodiscard]] bool test(uint64_t i) const { return i < bits_ && ((words_[i / 64] >> (i % 64)) & 1) != 0; }
    void set(uint64_t i)
    {
        if (i >= bits_) {
            resize(i + 1);
        }
        words_[i / 64] |= 1ULL << (i % 64);
    }
    void clear(uint64_t i)
    {
        if (i < bits_) {
            words_[i / 64] &= ~(1ULL << (i % 64));
        }
    }
    // The first clear bit at or after `from` (size() or beyond when there is none before the end).
    [[nodiscard]] uint64_t find_clear(uint64_t from) const { return find(from, true); }
    // The first set bit at or after `from`, or size().
    [[nodiscard]] uint64_t find_set(uint64_t from) const { return find(from, false); }
    [[nodiscard]] uint64_t count() const
    {
        uint64_t n = 0;
        for (const uint64_t w : words_) {
            n += static_cast<uint64_t>(std::popcount(w));
        }
        return n;
    }

private:
    [[nodiscard]] uint64_t find(uint64_t from, bool clear) const
    {
        if (from >= bits_) {
            return clear ? from : bits_;
        }
        uint64_t w = from / 64;
        uint64_t word = clear ? ~words_[w] : words_[w];
        word &= ~0ULL << (from % 64);
        for (;;) {
            if (word != 0) {
                const uint64_t i = w * 64 + static_cast<uint64_t>(std::countr_zero(word));
                return i < bits_ ? i : bits_;
            }
            if (++w == words_.size()) {
                return bits_;
            }
            word = clear ? ~words_[w] : words_[w];
        }
    }

    std::vector<uint64_t> words_;
    uint64_t bits_ = 0;
};

} // namespace minivmm::backends::qcow2
