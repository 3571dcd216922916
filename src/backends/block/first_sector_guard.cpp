// Refusing first-sector writes that would change a probed raw image's format.
#include "backends/block/first_sector_guard.hpp"

#include "backends/block/image_probe.hpp"
#include "backends/block/iov_range.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace minivmm::backends {

FirstSectorGuard::FirstSectorGuard(std::unique_ptr<BlockBackend> inner, std::string disk_name)
    : inner_(std::move(inner)), disk_name_(std::move(disk_name)), log_(fmt::format("disk '{}'", disk_name_))
{
}

bool FirstSectorGuard::changes_format(std::span<const iovec> iov)
{
    std::array<std::byte, kProbeBytes> first{};
    const auto n = static_cast<std::size_t>(std::min<uint64_t>(first.size(), iov_bytes(iov)));
    copy_from_iov(iov, 0, std::span(first).first(n));
    return probe_format(std::span(first).first(n)) != ProbedFormat::Raw;
}

bool FirstSectorGuard::submit(Tag tag, const DiskOp& op)
{
    if (op.kind != DiskOpKind::Write || op.offset != 0 || !changes_format(op.iov)) {
        return inner_->submit(tag, op);
    }
    if (in_flight() >= capacity()) {
        return false;
    }
    refused_.push_back(Completion{tag, EPERM});
    log_.warn("the guest wrote an image header to the first sector of a raw image whose format was probed; refused "
              "(format=raw allows it)");
    return true;
}

void FirstSectorGuard::reap(std::vector<Completion>& out)
{
    inner_->reap(out);
    out.insert(out.end(), refused_.begin(), refused_.end());
    refused_.clear();
}

void FirstSectorGuard::drain(std::vector<Completion>& out)
{
    inner_->drain(out);
    out.insert(out.end(), refused_.begin(), refused_.end());
    refused_.clear();
}

} // namespace minivmm::backends
