// Opening raw disk images: one clear ConfigError per problem, and locks that keep two
// users off one writable image.
#include "backends/block/disk_image.hpp"
#include "support/config_error.hpp"
#include "support/failing_syscall.hpp"
#include "support/virtio_blk_driver.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace minivmm;
using namespace minivmm::virtio;
using minivmm::test::config_error;
using minivmm::test::TempImage;

namespace {

std::string quoted(const std::filesystem::path& p) { return "disk '" + p.string() + "'"; }

} // namespace

TEST_CASE("disk image opens with its size, mode and serial", "[unit][virtio-blk]")
{
    TempImage file(1024 * 1024 + 100);
    auto image = backends::DiskImage::open(file.config());
    CHECK(image.fd() >= 0);
    CHECK((::fcntl(image.fd(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(image.fd(), F_GETFL) & O_ACCMODE) == O_RDWR);
    CHECK(image.size_bytes() == 1024 * 1024 + 100);
    CHECK(image.sectors() == 2048); // the 100-byte tail is not reachable
    CHECK_FALSE(image.readonly());
    CHECK_FALSE(image.direct());
    CHECK(image.serial() == "minivmm-test-serial");

    TempImage ro_file(4096);
    auto ro = backends::DiskImage::open(ro_file.config(true));
    CHECK((::fcntl(ro.fd(), F_GETFL) & O_ACCMODE) == O_RDONLY);
    CHECK(ro.readonly());
}

TEST_CASE("disk image problems are one ConfigError naming the path", "[unit][virtio-blk]")
{
    SECTION("missing")
    {
        const backends::DiskOptions config{"/nonexistent/minivmm/disk.img", false, "", false};
        CHECK(config_error([&] { (void)backends::DiskImage::open(config); }) ==
              quoted(config.path) + " does not exist");
    }
    SECTION("directory")
    {
        const backends::DiskOptions config{std::filesystem::temp_directory_path(), false, "", false};
        CHECK(config_error([&] { (void)backends::DiskImage::open(config); }) ==
              quoted(config.path) + " is a directory");
    }
    SECTION("empty")
    {
        TempImage file(0);
        CHECK(config_error([&] { (void)backends::DiskImage::open(file.config()); }) == quoted(file.path) + " is empty");
    }
    SECTION("smaller than a sector")
    {
        TempImage file(100);
        CHECK(config_error([&] { (void)backends::DiskImage::open(file.config()); }) ==
              quoted(file.path) + " is 100 bytes, smaller than one 512-byte sector");
    }
    SECTION("a FIFO")
    {
        const auto path = std::filesystem::temp_directory_path() / ("minivmm-fifo-" + std::to_string(::getpid()));
        REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
        const backends::DiskOptions config{path, false, "", false};
        const auto message = config_error([&] { (void)backends::DiskImage::open(config); });
        std::filesystem::remove(path);
        CHECK(message == quoted(path) + " is not a regular file or block device");
    }
    SECTION("serial longer than 20 bytes")
    {
        TempImage file(4096);
        auto config = file.config();
        config.serial = std::string(21, 'x');
        CHECK(config_error([&] { (void)backends::DiskImage::open(config); }) ==
              quoted(file.path) + " has a serial of 21 bytes; at most 20 fit");
    }
    SECTION("not writable")
    {
        if (::geteuid() == 0) {
            WARN("running as root: file permissions do not apply, skipping");
            return;
        }
        TempImage file(4096);
        REQUIRE(::chmod(file.path.c_str(), 0444) == 0);
        CHECK(config_error([&] { (void)backends::DiskImage::open(file.config()); }) ==
              quoted(file.path) + " is not writable (readonly=on opens it read-only)");
        CHECK_NOTHROW(backends::DiskImage::open(file.config(true)));
    }
}

TEST_CASE("disk image locks keep a second user off", "[unit][virtio-blk]")
{
    TempImage file(4096);
    const std::string in_use = quoted(file.path) + " is in use by another process (lock held)";
    SECTION("two writers")
    {
        auto first = backends::DiskImage::open(file.config());
        CHECK(config_error([&] { (void)backends::DiskImage::open(file.config()); }) == in_use);
        CHECK(config_error([&] { (void)backends::DiskImage::open(file.config(true)); }) == in_use);
    }
    SECTION("readers share, a writer waits for all of them")
    {
        auto a = backends::DiskImage::open(file.config(true));
        auto b = backends::DiskImage::open(file.config(true));
        CHECK(config_error([&] { (void)backends::DiskImage::open(file.config()); }) == in_use);
    }
    SECTION("the lock goes with the image")
    {
        {
            auto first = backends::DiskImage::open(file.config());
        }
        CHECK_NOTHROW(backends::DiskImage::open(file.config()));
    }
}

TEST_CASE("a lock the filesystem refuses refuses the disk, unless lock=off", "[unit][virtio-blk]")
{
    // ENOLCK is what NFS without a lock manager answers; make fcntl(F_OFD_SETLK) say it here.
    TempImage file(4096);
    const auto readonly = GENERATE(false, true);
    auto config = file.config(readonly);
    std::string error;
    test::run_with_failing_syscall(
        "fcntl", ENOLCK, [&] { error = config_error([&] { (void)backends::DiskImage::open(config); }); },
        test::SyscallArg{1, F_OFD_SETLK});
    CHECK(error == quoted(file.path) + " cannot be locked: No locks available (errno 37); lock=off uses it without "
                                       "a lock (then nothing stops another process from writing it at the same time)");

    config.lock = false;
    std::optional<backends::DiskImage> image;
    test::run_with_failing_syscall(
        "fcntl", ENOLCK, [&] { image.emplace(backends::DiskImage::open(config)); }, test::SyscallArg{1, F_OFD_SETLK});
    CHECK(image->readonly() == readonly);
    // Unlocked: a second user is not kept off.
    CHECK_NOTHROW(backends::DiskImage::open(file.config()));
}

TEST_CASE("cache=none opens with O_DIRECT or says the filesystem cannot", "[unit][virtio-blk]")
{
    TempImage file(4096, "/var/tmp");
    try {
        auto image = backends::DiskImage::open(file.config(false, DiskCache::None));
        CHECK(image.direct());
        CHECK((::fcntl(image.fd(), F_GETFL) & O_DIRECT) != 0);
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) ==
              quoted(file.path) + ": cache=none needs O_DIRECT, which this filesystem does not support");
        WARN("/var/tmp does not support O_DIRECT: " << e.what());
    }
    // tmpfs refused O_DIRECT before Linux 6.6; where it still does, check the message.
    if (std::filesystem::is_directory("/dev/shm")) {
        TempImage shm(4096, "/dev/shm");
        try {
            auto image = backends::DiskImage::open(shm.config(false, DiskCache::None));
            CHECK(image.direct());
        } catch (const ConfigError& e) {
            CHECK(std::string(e.what()) ==
                  quoted(shm.path) + ": cache=none needs O_DIRECT, which this filesystem does not support");
        }
    }
}
