// QEMU's rule for raw images whose format was probed (since CVE-2008-2004): the guest may
// not write a first sector that would make the image probe as another format next time,
// e.g. a qcow2 header naming a host file of its choosing as the backing file. Such a write
// fails (EPERM, an I/O error for the guest); with format=raw given explicitly, nothing is
// probed and the guest may write what it likes.
#pragma once

#include "backends/block/block_backend.hpp"
#include "util/guest_log.hpp"

#include <memory>
#include <string>
#include <vector>

namespace minivmm::backends {

class FirstSectorGuard final : public BlockBackend {
public:
    FirstSectorGuard(std::unique_ptr<BlockBackend> inner, std::string disk_name);

    [[nodiscard]] std::string_view name() const override { return inner_->name(); }
    [[nodiscard]] std::size_t capacity() const override { return inner_->capacity(); }
    [[nodiscard]] std::size_t in_flight() const override { return inner_->in_flight() + refused_.size(); }
    [[nodiscard]] bool submit(Tag tag, const DiskOp& op) override;
    void commit() override { inner_->commit(); }
    [[nodiscard]] int completion_fd() const override { return inner_->completion_fd(); }
    void reap(std::vector<Completion>& out) override;
    void drain(std::vector<Completion>& out) override;
    void add_syscalls(util::SeccompPolicy& policy) const override { inner_->add_syscalls(policy); }

    // Whether writing `iov` at offset 0 would make the image probe as something other than raw.
    [[nodiscard]] static bool changes_format(std::span<const iovec> iov);

private:
    std::unique_ptr<BlockBackend> inner_;
    std::string disk_name_;
    std::vector<Completion> refused_;
    util::GuestLog log_;
};

} // namespace minivmm::backends
