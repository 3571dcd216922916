// The L2 tables of one qcow2 image held in memory, by L1 index, least recently used first
// out. A table changed in memory is dirty until the metadata write-back has written it; a
// dirty table is never dropped, so the cache may grow past its capacity while the writes of
// new allocations wait for a write-back (the owner starts one when over_capacity()).
#pragma once

#include "backends/block/aligned_buffer.hpp"

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace minivmm::backends::qcow2 {

class L2Cache final {
public:
    struct Table {
        AlignedBuffer data;
        bool dirty = false;
        uint64_t version = 0; // counts changes: a write-back cleans only the version it wrote
        uint64_t last_use = 0;
    };

    L2Cache(std::size_t capacity, uint64_t table_bytes) : capacity_(capacity < 2 ? 2 : capacity), table_bytes_(table_bytes) {}

    // The table for `l1_index`, or nullptr; marks it used.
    [[nodiscard]] Table* find(uint64_t l1_index)
    {
        const auto it = tables_.find(l1_index);
        if (it == tables_.end()) {
            return nullptr;
        }
        it->second.last_use = ++clock_;
        return &it->second;
    }
    // Adds a table (replacing any), dropping clean tables least recently used first while
    // over capacity.
    Table& insert(uint64_t l1_index, AlignedBuffer data, bool dirty)
    {
        Table& t = tables_[l1_index];
        t.data = std::move(data);
        t.dirty = dirty;
        ++t.version;
        t.last_use = ++clock_;
        shrink(l1_index);
        return t;
    }
    void mark_dirty(Table& t)
    {
        t.dirty = true;
        ++t.version;
    }
    [[nodiscard]] bool over_capacity() const { return tables_.size() > capacity_; }
    [[nodiscard]] bool far_over_capacity() const { return tables_.size() > 2 * capacity_; }
    [[nodiscard]] std::size_t size() const { return tables_.size(); }
    [[nodiscard]] std::size_t capacity() const { return capacity_; }
    [[nodiscard]] uint64_t table_bytes() const { return table_bytes_; }
    [[nodiscard]] std::size_t dirty_count() const
    {
        std::size_t n = 0;
        for (const auto& [index, t] : tables_) {
            n += t.dirty ? 1 : 0;
        }
        return n;
    }
    // The dirty tables' L1 indexes.
    [[nodiscard]] std::vector<uint64_t> dirty_indexes() const
    {
        std::vector<uint64_t> out;
        for (const auto& [index, t] : tables_) {
            if (t.dirty) {
                out.push_back(index);
            }
        }
        return out;
    }
    // Drops clean tables while over capacity (after a write-back cleaned some), never `keep`.
    void shrink(uint64_t keep = UINT64_MAX)
    {
        while (tables_.size() > capacity_) {
            auto victim = tables_.end();
            for (auto it = tables_.begin(); it != tables_.end(); ++it) {
                if (!it->second.dirty && it->first != keep && (victim == tables_.end() || it->second.last_use < victim->second.last_use)) {
                    victim = it;
                }
            }
            if (victim == tables_.end()) {
                return;
            }
            tables_.erase(victim);
        }
    }

private:
    std::size_t capacity_;
    uint64_t table_bytes_;
    uint64_t clock_ = 0;
    std::unordered_map<uint64_t, Table> tables_;
};

} // namespace minivmm::backends::qcow2
