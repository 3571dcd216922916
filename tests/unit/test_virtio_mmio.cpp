// The virtio-mmio transport (virtio 1.2 section 4.2) driven through its register file as a
// guest driver would, with a recording device behind it.
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/mmio_transport.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <catch2/catch.hpp>

#include <memory>

using namespace minivmm;
using namespace minivmm::virtio::mmio;
using minivmm::test::MmioDriver;

namespace {

constexpr uint64_t kDeviceFeatureA = 1ULL << 3;
constexpr uint64_t kDeviceFeatureB = 1ULL << 40;

// Records what the transport asks of it; pops and completes every chain it is notified of.
struct RecordingDevice final : virtio::VirtioDevice {
    struct Log {
        int activations = 0;
        int resets = 0;
        uint64_t features = 0;
        std::vector<unsigned> notifies;
        int completed = 0;
        std::vector<uint8_t> config_written;
    };
    explicit RecordingDevice(std::shared_ptr<Log> log) : log_(std::move(log)) {}

    uint32_t device_id() const override { return 42; }
    std::string name() const override { return "test-device"; }
    uint64_t device_features() const override { return kDeviceFeatureA | kDeviceFeatureB; }
    std::vector<uint16_t> queue_max_sizes() const override { return {64, 16}; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override
    {
        for (size_t i = 0; i < data.size(); ++i) {
            if (offset + i < 8) {
                data[i] = static_cast<uint8_t>(0xa0 + offset + i);
            }
        }
    }
    void write_config(uint64_t, std::span<const uint8_t> data) override
    {
        log_->config_written.assign(data.begin(), data.end());
    }
    void attach(virtio::VirtioContext& context) override { context_ = &context; }
    void activate(uint64_t features, std::span<virtio::VirtQueue> queues) override
    {
        ++log_->activations;
        log_->features = features;
        queues_ = queues;
    }
    void queue_notify(unsigned index) override
    {
        log_->notifies.push_back(index);
        bool used = false;
        while (auto chain = queues_[index].pop()) {
            (void)queues_[index].add_used(chain->head(), chain->total_len());
            ++log_->completed;
            used = true;
        }
        if (used) {
            context_->notify_used(index);
        }
    }
    void reset() override
    {
        ++log_->resets;
        queues_ = {};
    }

    std::shared_ptr<Log> log_;
    virtio::VirtioContext* context_ = nullptr;
    std::span<virtio::VirtQueue> queues_;
};

struct Fixture {
    std::shared_ptr<RecordingDevice::Log> log = std::make_shared<RecordingDevice::Log>();
    MmioDriver driver{[this](memory::GuestMemory&) { return std::make_unique<RecordingDevice>(log); }};
};

} // namespace

TEST_CASE("virtio-mmio: identification registers", "[unit][virtio-mmio]")
{
    Fixture f;
    CHECK(f.driver.reg(kMagicValue) == 0x74726976);
    CHECK(f.driver.reg(kVersionReg) == 2);
    CHECK(f.driver.reg(kDeviceId) == 42);
    CHECK(f.driver.reg(kVendorIdReg) == kVendorId);
    CHECK(f.driver.reg(kStatus) == 0);
    f.driver.set(kQueueSel, 0);
    CHECK(f.driver.reg(kQueueNumMax) == 64);
    f.driver.set(kQueueSel, 1);
    CHECK(f.driver.reg(kQueueNumMax) == 16);
    f.driver.set(kQueueSel, 2); // no such queue
    CHECK(f.driver.reg(kQueueNumMax) == 0);
    CHECK(f.driver.reg(kShmLenLow) == 0xffffffff);
    CHECK(f.driver.reg(kShmLenHigh) == 0xffffffff);
}

TEST_CASE("virtio-mmio: the device offers its features plus VERSION_1, INDIRECT_DESC, EVENT_IDX", "[unit][virtio-mmio]")
{
    Fixture f;
    const uint64_t features = f.driver.device_features();
    CHECK(features == (kDeviceFeatureA | kDeviceFeatureB | virtio::kTransportFeatures));
    f.driver.set(kDeviceFeaturesSel, 2);
    CHECK(f.driver.reg(kDeviceFeatures) == 0);
}

TEST_CASE("virtio-mmio: full driver handshake activates the device with the negotiated features", "[unit][virtio-mmio]")
{
    Fixture f;
    const uint64_t wanted = virtio::kFVersion1 | virtio::kFEventIdx | kDeviceFeatureB;
    REQUIRE(f.driver.negotiate(wanted));
    f.driver.setup_queue(0, 32);
    f.driver.set(kQueueSel, 0);
    CHECK(f.driver.reg(kQueueReady) == 1);
    CHECK(f.driver.reg(kQueueDescLow) == MmioDriver::ring_addr(0));
    CHECK(f.driver.reg(kQueueDriverLow) == MmioDriver::ring_addr(0) + 0x1000);
    CHECK(f.driver.reg(kQueueDeviceLow) == MmioDriver::ring_addr(0) + 0x2000);
    CHECK(f.log->activations == 0);
    f.driver.driver_ok();
    CHECK(f.log->activations == 1);
    CHECK(f.log->features == wanted);
    CHECK(f.driver.reg(kStatus) == (kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk));

    // A request on queue 0 completes through the device; the used-buffer interrupt follows.
    f.driver.desc(0, 0, 0x20'0000, 512, 0);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    CHECK(f.log->notifies == std::vector<unsigned>{0});
    CHECK(f.driver.used_idx(0) == 1);
    CHECK(f.driver.used_len(0, 0) == 512);
    CHECK(f.driver.irq->count == 1);
    CHECK(f.driver.reg(kInterruptStatus) == kInterruptVring);
    f.driver.set(kInterruptAck, kInterruptVring);
    CHECK(f.driver.reg(kInterruptStatus) == 0);
}

TEST_CASE("virtio-mmio: FEATURES_OK is refused for unoffered features or a legacy driver", "[unit][virtio-mmio]")
{
    Fixture f;
    SECTION("a feature the device did not offer") { CHECK_FALSE(f.driver.negotiate(virtio::kFVersion1 | (1ULL << 5))); }
    SECTION("no VIRTIO_F_VERSION_1") { CHECK_FALSE(f.driver.negotiate(kDeviceFeatureA)); }
    CHECK((f.driver.reg(kStatus) & kStatusFeaturesOk) == 0);
    // DRIVER_OK without FEATURES_OK does not activate the device.
    f.driver.set(kStatus, kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
    CHECK(f.log->activations == 0);
}

TEST_CASE("virtio-mmio: status bits are only ever added; writing 0 resets", "[unit][virtio-mmio]")
{
    Fixture f;
    f.driver.bring_up(2);
    REQUIRE(f.log->activations == 1);
    f.driver.set(kStatus, kStatusAcknowledge); // dropping bits is refused
    CHECK(f.driver.reg(kStatus) == (kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk));
    f.driver.set(kStatus, f.driver.reg(kStatus) | kStatusNeedsReset); // the device's bit, not the driver's
    CHECK((f.driver.reg(kStatus) & kStatusNeedsReset) == 0);
    f.driver.set(kStatus, 0);
    CHECK(f.driver.reg(kStatus) == 0);
    CHECK(f.log->resets == 1);
    f.driver.set(kQueueSel, 0);
    CHECK(f.driver.reg(kQueueReady) == 0);
    CHECK(f.driver.reg(kQueueDescLow) == 0);
}

TEST_CASE("virtio-mmio: features and queues are configured only in their handshake phase", "[unit][virtio-mmio]")
{
    Fixture f;
    // Queue set-up before FEATURES_OK is ignored.
    f.driver.set(kStatus, kStatusAcknowledge | kStatusDriver);
    f.driver.setup_queue(0, 16);
    f.driver.set(kQueueSel, 0);
    CHECK(f.driver.reg(kQueueReady) == 0);
    f.driver.bring_up(1, 16);
    // After DRIVER_OK the queue addresses and the driver features are frozen.
    f.driver.set(kQueueSel, 0);
    f.driver.set(kQueueDescLow, 0x5000);
    CHECK(f.driver.reg(kQueueDescLow) == MmioDriver::ring_addr(0));
    f.driver.set(kDriverFeaturesSel, 0);
    f.driver.set(kDriverFeatures, 0xffffffff);
    CHECK(f.log->features == virtio::kFVersion1);
}

TEST_CASE("virtio-mmio: queue sizes must be powers of two within QueueNumMax", "[unit][virtio-mmio]")
{
    Fixture f;
    REQUIRE(f.driver.negotiate(virtio::kFVersion1));
    f.driver.set(kQueueSel, 1);
    f.driver.set(kQueueNum, 32); // above max 16: ignored, default (max) stays
    f.driver.set(kQueueNum, 12); // not a power of two: ignored
    f.driver.set(kQueueNum, 8);
    f.driver.setup_queue(0, 64);
    f.driver.set(kQueueSel, 1);
    f.driver.set(kQueueReady, 1);
    // Ring addresses of queue 1 were never set (0): descriptors at 0 are still in RAM, valid.
    f.driver.driver_ok();
    CHECK(f.log->activations == 1);
}

TEST_CASE("virtio-mmio: QueueNotify hands valid queue indexes to the I/O thread only", "[unit][virtio-mmio]")
{
    Fixture f;
    f.driver.bring_up(2);
    f.driver.set(kQueueNotify, 1);
    f.driver.set(kQueueNotify, 2);
    f.driver.set(kQueueNotify, 0xffff);
    CHECK(f.driver.notified == std::vector<unsigned>{1});
    // process_notify for a device that is not running does nothing.
    f.driver.set(kStatus, 0);
    f.driver.transport.process_notify(0);
    CHECK(f.log->notifies.empty());
}

TEST_CASE("virtio-mmio: a malformed chain puts the device in DEVICE_NEEDS_RESET until reset", "[unit][virtio-mmio]")
{
    Fixture f;
    f.driver.bring_up(1, 16);
    // A descriptor loop: 0 -> 1 -> 0.
    f.driver.desc(0, 0, 0x20'0000, 16, 1 /* NEXT */, 1);
    f.driver.desc(0, 1, 0x20'1000, 16, 1 /* NEXT */, 0);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    CHECK((f.driver.reg(kStatus) & kStatusNeedsReset) != 0);
    CHECK(f.driver.transport.needs_reset());
    CHECK((f.driver.reg(kInterruptStatus) & kInterruptConfig) != 0);
    CHECK(f.log->resets == 1); // the device was stopped
    CHECK(f.driver.used_idx(0) == 0);
    // Further notifications are not processed.
    f.driver.kick(0);
    CHECK(f.log->notifies.size() == 1);
    // The driver resets and starts over; the device works again.
    f.driver.avail_idx.clear();
    f.driver.bring_up(1, 16);
    CHECK(f.log->activations == 2);
    CHECK_FALSE(f.driver.transport.needs_reset());
    f.driver.desc(0, 0, 0x20'0000, 100, 0);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    CHECK(f.driver.used_idx(0) == 1);
    CHECK(f.driver.used_len(0, 0) == 100);
}

TEST_CASE("virtio-mmio: rings outside RAM at DRIVER_OK mean DEVICE_NEEDS_RESET, not activation", "[unit][virtio-mmio]")
{
    Fixture f;
    REQUIRE(f.driver.negotiate(virtio::kFVersion1));
    f.driver.set(kQueueSel, 0);
    f.driver.set(kQueueDescLow, 0);
    f.driver.set(kQueueDescHigh, 0x10); // 64 GiB: not RAM
    f.driver.set(kQueueReady, 1);
    f.driver.driver_ok();
    CHECK(f.log->activations == 0);
    CHECK(f.driver.transport.needs_reset());
}

TEST_CASE("virtio-mmio: only aligned 32-bit register accesses count; config space takes any width", "[unit][virtio-mmio]")
{
    Fixture f;
    std::array<uint8_t, 2> half{0xff, 0xff};
    f.driver.transport.read(kMagicValue, half);
    CHECK(half == std::array<uint8_t, 2>{0xff, 0xff}); // untouched: the bus zero-fills before dispatch
    f.driver.transport.write(kStatus, std::array<uint8_t, 1>{kStatusAcknowledge});
    CHECK(f.driver.reg(kStatus) == 0);
    std::array<uint8_t, 3> config{};
    f.driver.transport.read(kConfig + 5, config);
    CHECK(config == std::array<uint8_t, 3>{0xa5, 0xa6, 0xa7});
    f.driver.transport.write(kConfig + 1, std::array<uint8_t, 2>{7, 9});
    CHECK(f.log->config_written == std::vector<uint8_t>{7, 9});
}
