#include "vcpu/exit_stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace minivmm::vcpu {
namespace {

constexpr std::array<const char*, ExitStats::kKinds> kKindNames = {"io-in", "io-out", "mmio-read", "mmio-write",
                                                                    "hlt",   "interrupted", "other"};
// How many of a kind's busiest addresses the summary names.
constexpr std::size_t kSitesShown = 6;

} // namespace

void ExitStats::count(const VcpuExit& exit, std::chrono::nanoseconds handling)
{
    handling_ += handling;
    std::visit(
        [this](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, exits::IoIn>) {
                count_site(Kind::IoIn, e.port);
            } else if constexpr (std::is_same_v<T, exits::IoOut>) {
                count_site(Kind::IoOut, e.port);
            } else if constexpr (std::is_same_v<T, exits::MmioRead>) {
                count_site(Kind::MmioRead, e.address);
            } else if constexpr (std::is_same_v<T, exits::MmioWrite>) {
                count_site(Kind::MmioWrite, e.address);
            } else if constexpr (std::is_same_v<T, exits::Hlt>) {
                ++by_kind_[static_cast<std::size_t>(Kind::Hlt)];
            } else if constexpr (std::is_same_v<T, exits::Interrupted>) {
                ++by_kind_[static_cast<std::size_t>(Kind::Interrupted)];
            } else {
                ++by_kind_[static_cast<std::size_t>(Kind::Other)];
            }
        },
        exit);
}

void ExitStats::count_site(Kind kind, uint64_t address)
{
    ++by_kind_[static_cast<std::size_t>(kind)];
    for (auto& site : sites_) {
        if (site.kind == kind && site.address == address) {
            ++site.count;
            return;
        }
    }
    if (sites_.size() < kMaxAddresses) {
        sites_.push_back({kind, address, 1});
        return;
    }
    ++untracked_sites_;
}

uint64_t ExitStats::total() const { return std::accumulate(by_kind_.begin(), by_kind_.end(), uint64_t{0}); }

uint64_t ExitStats::at(Kind kind, uint64_t address) const
{
    for (const auto& site : sites_) {
        if (site.kind == kind && site.address == address) {
            return site.count;
        }
    }
    return 0;
}

std::string ExitStats::summary() const
{
    std::string text = fmt::format("{} exits, {:.1f} ms handling them", total(),
                                   std::chrono::duration<double, std::milli>(handling_).count());
    const char* separator = ": ";
    for (std::size_t k = 0; k < kKinds; ++k) {
        if (by_kind_[k] == 0) {
            continue;
        }
        text += fmt::format("{}{} {}", separator, kKindNames[k], by_kind_[k]);
        separator = ", ";
        std::vector<Site> sites;
        std::copy_if(sites_.begin(), sites_.end(), std::back_inserter(sites),
                     [k](const Site& s) { return static_cast<std::size_t>(s.kind) == k; });
        if (sites.empty()) {
            continue;
        }
        std::sort(sites.begin(), sites.end(), [](const Site& a, const Site& b) { return a.count > b.count; });
        text += " (";
        for (std::size_t i = 0; i < sites.size() && i < kSitesShown; ++i) {
            text += fmt::format("{}{:#x} x{}", i == 0 ? "" : ", ", sites[i].address, sites[i].count);
        }
        text += sites.size() > kSitesShown ? ", ...)" : ")";
    }
    if (untracked_sites_ > 0) {
        text += fmt::format("; {} at addresses past the first {}", untracked_sites_, kMaxAddresses);
    }
    return text;
}

} // namespace minivmm::vcpu
