// The initramfs of `minivmm exec` built in memory: the newc cpio writer (read back by a parser
// of our own and by GNU cpio), module decompression (files made by xz, zstd and gzip
// themselves), .modinfo, module resolution from modules.dep or depends=, and the archive with
// the agent, its modules and its configuration.
#include "initramfs/agent_image.hpp"
#include "initramfs/cpio_writer.hpp"
#include "initramfs/decompress.hpp"
#include "initramfs/exec_initramfs.hpp"
#include "initramfs/modinfo.hpp"
#include "initramfs/module_tree.hpp"
#include "support/file_contents.hpp"
#include "support/config_error.hpp"
#include "support/fake_kernel.hpp"
#include "support/run_process.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <elf.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

using namespace minivmm;
using namespace minivmm::initramfs;
using minivmm::test::fake_module;
namespace fs = std::filesystem;

namespace {

struct CpioEntry {
    uint32_t mode = 0;
    uint32_t nlink = 0;
    uint32_t rdev_major = 0;
    uint32_t rdev_minor = 0;
    std::vector<uint8_t> data;
};

// An independent reader of newc archives: every field, alignment, and the trailer.
std::map<std::string, CpioEntry> parse_cpio(const std::vector<uint8_t>& archive)
{
    std::map<std::string, CpioEntry> entries;
    size_t pos = 0;
    const auto field = [&](size_t index) {
        const std::string hex(archive.begin() + static_cast<long>(pos + 6 + index * 8),
                              archive.begin() + static_cast<long>(pos + 14 + index * 8));
        return static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
    };
    for (;;) {
        REQUIRE(pos + 110 <= archive.size());
        REQUIRE(std::string(archive.begin() + static_cast<long>(pos), archive.begin() + static_cast<long>(pos + 6)) ==
                "070701");
        CpioEntry entry;
        entry.mode = field(1);
        CHECK(field(2) == 0); // uid
        CHECK(field(3) == 0); // gid
        entry.nlink = field(4);
        CHECK(field(5) == 0); // mtime
        const uint32_t size = field(6);
        entry.rdev_major = field(9);
        entry.rdev_minor = field(10);
        const uint32_t namesize = field(11);
        const std::string name(archive.begin() + static_cast<long>(pos + 110),
                               archive.begin() + static_cast<long>(pos + 110 + namesize - 1));
        CHECK(archive[pos + 110 + namesize - 1] == 0);
        pos = (pos + 110 + namesize + 3) & ~size_t{3};
        REQUIRE(pos + size <= archive.size());
        entry.data.assign(archive.begin() + static_cast<long>(pos), archive.begin() + static_cast<long>(pos + size));
        pos = (pos + size + 3) & ~size_t{3};
        if (name == "TRAILER!!!") {
            CHECK(pos == archive.size());
            return entries;
        }
        CHECK(entries.count(name) == 0);
        entries.emplace(name, std::move(entry));
    }
}

std::vector<uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::vector<uint8_t> data(n);
    for (auto& b : data) {
        b = static_cast<uint8_t>(rng() % 7); // compressible, like a module
    }
    return data;
}

struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name)
        : path(fs::temp_directory_path() / fmt::format("minivmm-initramfs-{}-{}", name, ::getpid()))
    {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

void write_file(const fs::path& path, const std::vector<uint8_t>& data) { test::write_bytes(path, data); }

std::vector<uint8_t> read_file(const fs::path& path)
{
    return minivmm::test::file_contents_u8(path);
}

std::vector<uint8_t> compress_with(const std::vector<std::string>& tool, const std::vector<uint8_t>& data)
{
    TempDir dir("compress");
    write_file(dir.path / "in", data);
    std::string command;
    for (const auto& word : tool) {
        command += word + " ";
    }
    const auto result = test::run_process({"/bin/sh", "-c", command + "< " + (dir.path / "in").string() + " > " +
                                                           (dir.path / "out").string()});
    REQUIRE(result.exit_code == 0);
    return read_file(dir.path / "out");
}

constexpr const char* kRelease = "6.1.0-99-test-amd64";

template <typename F>
void expect_config_error(F&& f, const std::string& mention)
{
    CHECK_THAT(test::config_error(std::forward<F>(f)), Catch::Contains(mention));
}

} // namespace

TEST_CASE("cpio: entries as the kernel reads them (newc, owned by root, 4-byte aligned)", "[unit][initramfs]")
{
    CpioWriter cpio;
    cpio.add_directory("dev");
    cpio.add_char_device("dev/console", 0600, 5, 1);
    cpio.add_file("init", bytes_of("#!abc"), 0755);
    cpio.add_file("etc/a.conf", bytes_of(""));
    cpio.add_symlink("bin", "usr/bin");
    const auto entries = parse_cpio(cpio.finish());
    REQUIRE(entries.size() == 5);
    CHECK(entries.at("dev").mode == (S_IFDIR | 0755));
    CHECK(entries.at("dev").nlink == 2);
    CHECK(entries.at("dev/console").mode == (S_IFCHR | 0600));
    CHECK(entries.at("dev/console").rdev_major == 5);
    CHECK(entries.at("dev/console").rdev_minor == 1);
    CHECK(entries.at("init").mode == (S_IFREG | 0755));
    CHECK(entries.at("init").data == bytes_of("#!abc"));
    CHECK(entries.at("etc/a.conf").data.empty());
    CHECK(entries.at("bin").mode == (S_IFLNK | 0777));
    CHECK(entries.at("bin").data == bytes_of("usr/bin"));
}

TEST_CASE("cpio: GNU cpio lists and extracts what the writer made", "[unit][initramfs]")
{
    CpioWriter cpio;
    cpio.add_directory("d");
    const auto payload = random_bytes(100'003, 7);
    cpio.add_file("d/file.bin", payload);
    cpio.add_symlink("d/link", "file.bin");
    TempDir dir("gnu");
    write_file(dir.path / "a.cpio", cpio.finish());
    const auto list = test::run_process({"/bin/sh", "-c", "cpio -it --quiet < " + (dir.path / "a.cpio").string()});
    CHECK(list.exit_code == 0);
    CHECK(list.out == "d\nd/file.bin\nd/link\n");
    const auto extract = test::run_process(
        {"/bin/sh", "-c", "cd " + dir.path.string() + " && mkdir x && cd x && cpio -id --quiet < ../a.cpio"});
    CHECK(extract.exit_code == 0);
    CHECK(read_file(dir.path / "x/d/file.bin") == payload);
    CHECK(fs::read_symlink(dir.path / "x/d/link") == "file.bin");
}

TEST_CASE("cpio: names the kernel would misplace are refused", "[unit][initramfs]")
{
    for (const char* bad : {"", "/init", "a/../b", "..", "a//b", "a/", "./a", "TRAILER!!!"}) {
        INFO(bad);
        CHECK_FALSE(is_valid_cpio_name(bad));
        CpioWriter cpio;
        CHECK_THROWS_AS(cpio.add_file(bad, {}), ConfigError);
    }
    CHECK(is_valid_cpio_name("lib/modules/virtio.ko"));
    CpioWriter cpio;
    CHECK_THROWS_AS(cpio.add_symlink("x", ""), ConfigError);
}

TEST_CASE("decompress: what xz, zstd and gzip made comes back byte for byte", "[unit][initramfs]")
{
    // Four of the decompressor's 256 KiB output steps and a part. xz at its fastest preset:
    // the preset changes how hard the compressor searches, not the format the decoder reads.
    const auto data = random_bytes((1 << 20) + 4099, 11);
    CHECK(decompress(data, "plain", 8 << 20) == data);
    CHECK(detect_compression(data) == Compression::None);
    const std::vector<std::pair<std::vector<std::string>, Compression>> tools{
        {{"xz", "-c", "-0", "-T1"}, Compression::Xz},
        {{"xz", "-c", "-0", "--check=crc32"}, Compression::Xz}, // as the kernel's build compresses modules
        {{"zstd", "-c", "-q"}, Compression::Zstd},
        {{"gzip", "-c"}, Compression::Gzip}};
    for (const auto& [tool, format] : tools) {
        INFO(tool.front());
        const auto packed = compress_with(tool, data);
        CHECK(detect_compression(packed) == format);
        CHECK(decompress(packed, "m.ko", 8 << 20) == data);
    }
}

TEST_CASE("decompress: corrupt, truncated and oversized input is one clear error", "[unit][initramfs]")
{
    const auto data = random_bytes(1 << 20, 12);
    for (const auto& tool : std::vector<std::vector<std::string>>{{"xz", "-c", "-0"}, {"zstd", "-c", "-q"}, {"gzip", "-c"}}) {
        INFO(tool.front());
        auto packed = compress_with(tool, data);
        // Too large for the limit: a decompression bomb stops at the limit.
        expect_config_error([&] { (void)decompress(packed, "bomb.ko", 1000); }, "more than 1000 bytes");
        auto truncated = packed;
        truncated.resize(packed.size() / 2);
        expect_config_error([&] { (void)decompress(truncated, "half.ko", 8 << 20); }, "half.ko");
        auto corrupt = packed;
        for (size_t i = 16; i < corrupt.size(); i += 97) {
            corrupt[i] ^= 0x5a;
        }
        expect_config_error([&] { (void)decompress(corrupt, "bad.ko", 8 << 20); }, "bad.ko");
    }
}

TEST_CASE("modinfo: name, depends and vermagic from the .modinfo section", "[unit][initramfs]")
{
    const auto ko = fake_module({"license=GPL", "depends=virtio,virtio_ring", "name=virtio_mmio",
                                 std::string("vermagic=") + kRelease + " SMP preempt mod_unload modversions "});
    const auto info = read_modinfo(ko);
    REQUIRE(info);
    CHECK(info->name == "virtio_mmio");
    CHECK(info->depends == std::vector<std::string>{"virtio", "virtio_ring"});
    CHECK(vermagic_release(info->vermagic) == kRelease);
    // A module that needs nothing says "depends=".
    CHECK(read_modinfo(fake_module({"depends=", "name=virtio"}))->depends.empty());
}

TEST_CASE("modinfo: hostile files are not modules, and nothing crashes", "[unit][initramfs]")
{
    CHECK_FALSE(read_modinfo({}));
    CHECK_FALSE(read_modinfo(bytes_of("\x7f" "ELF not really")));
    const auto good = fake_module({"name=x"});
    for (size_t cut = 0; cut < good.size(); cut += 13) {
        (void)read_modinfo(std::span(good).first(cut));
    }
    auto bad_offset = good;
    Elf64_Ehdr header{};
    std::memcpy(&header, bad_offset.data(), sizeof(header));
    header.e_shoff = ~uint64_t{0} - 10;
    std::memcpy(bad_offset.data(), &header, sizeof(header));
    CHECK_FALSE(read_modinfo(bad_offset));
    header.e_shoff = 64;
    header.e_shnum = 0xffff;
    std::memcpy(bad_offset.data(), &header, sizeof(header));
    CHECK_FALSE(read_modinfo(bad_offset));
}

TEST_CASE("modinfo: a real Debian module", "[unit][initramfs]")
{
    const fs::path cache = fs::path(std::getenv("HOME") ? std::getenv("HOME") : "/root") / ".cache/minivmm-kernels";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(cache, ec)) {
        for (const auto& ko : fs::recursive_directory_iterator(entry.path() / "lib/modules", ec)) {
            if (ko.path().filename() == "virtio_mmio.ko") {
                const auto info = read_modinfo(read_file(ko.path()));
                REQUIRE(info);
                CHECK(info->name == "virtio_mmio");
                CHECK(info->depends == std::vector<std::string>{"virtio", "virtio_ring"});
                // .../lib/modules/RELEASE/kernel/drivers/virtio/virtio_mmio.ko
                const auto release = ko.path().parent_path().parent_path().parent_path().parent_path();
                CHECK(vermagic_release(info->vermagic) == release.filename().string());
                return;
            }
        }
    }
    WARN("SKIPPED: no Debian kernel in " << cache.string() << " (cmake --build build --target linux-guest)");
}

namespace {

// A module tree: three modules with a dependency chain, one under a '-' name, one built in.
struct FakeTree : TempDir {
    FakeTree() : TempDir("tree")
    {
        add("kernel/drivers/virtio/virtio.ko", "virtio", "");
        add("kernel/drivers/virtio/virtio_ring.ko", "virtio_ring", "");
        add("kernel/drivers/virtio/virtio_mmio.ko", "virtio_mmio", "virtio,virtio_ring");
        add("kernel/drivers/misc/pvpanic/pvpanic-mmio.ko", "pvpanic_mmio", "pvpanic");
        add("kernel/drivers/misc/pvpanic/pvpanic.ko", "pvpanic", "");
        write_file(path / "modules.builtin", bytes_of("kernel/fs/fuse/fuse.ko\nkernel/drivers/char/hw_random/rng-core.ko\n"));
    }
    void add(const std::string& rel, const std::string& name, const std::string& depends,
             const std::string& release = kRelease)
    {
        test::add_fake_module(path, rel, name, depends, release);
    }
    void index(const std::string& text) { write_file(path / "modules.dep", bytes_of(text)); }
};

std::vector<std::string> names(const std::vector<KernelModule>& modules)
{
    std::vector<std::string> out;
    for (const auto& m : modules) {
        out.push_back(m.name);
    }
    return out;
}

} // namespace

TEST_CASE("module tree: modules.dep gives each module after its dependencies, once", "[unit][initramfs]")
{
    FakeTree tree;
    tree.index("kernel/drivers/virtio/virtio.ko:\n"
               "kernel/drivers/virtio/virtio_ring.ko:\n"
               "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
               "kernel/drivers/misc/pvpanic/pvpanic-mmio.ko: kernel/drivers/misc/pvpanic/pvpanic.ko\n"
               "kernel/drivers/misc/pvpanic/pvpanic.ko:\n");
    const auto modules = ModuleTree::open(tree.path);
    CHECK(modules.has_index());
    CHECK(modules.is_builtin("fuse"));
    CHECK(modules.is_builtin("rng_core"));
    CHECK(modules.has_module("pvpanic-mmio"));
    const std::vector<ModuleRequest> wanted{{"virtio_mmio"}, {"virtio"}, {"fuse"}, {"pvpanic-mmio"}};
    const auto loaded = modules.load(wanted, std::string(kRelease));
    CHECK(names(loaded) == std::vector<std::string>{"virtio_ring", "virtio", "virtio_mmio", "pvpanic", "pvpanic_mmio"});
    CHECK(loaded.front().image == read_file(tree.path / "kernel/drivers/virtio/virtio_ring.ko"));
}

TEST_CASE("module tree: without modules.dep the tree is walked and depends= followed", "[unit][initramfs]")
{
    FakeTree tree;
    const auto modules = ModuleTree::open(tree.path);
    CHECK_FALSE(modules.has_index());
    const std::vector<ModuleRequest> wanted{{"virtio_mmio"}, {"pvpanic_mmio"}};
    CHECK(names(modules.load(wanted, std::nullopt)) ==
          std::vector<std::string>{"virtio", "virtio_ring", "virtio_mmio", "pvpanic", "pvpanic_mmio"});
}

TEST_CASE("module tree: compressed modules are decompressed", "[unit][initramfs]")
{
    FakeTree tree;
    const auto plain = read_file(tree.path / "kernel/drivers/virtio/virtio.ko");
    fs::remove(tree.path / "kernel/drivers/virtio/virtio.ko");
    fs::remove(tree.path / "kernel/drivers/virtio/virtio_ring.ko");
    write_file(tree.path / "kernel/drivers/virtio/virtio.ko.xz", compress_with({"xz", "-c", "--check=crc32"}, plain));
    tree.add("kernel/drivers/virtio/virtio_ring.ko", "virtio_ring", "");
    const auto ring = read_file(tree.path / "kernel/drivers/virtio/virtio_ring.ko");
    fs::remove(tree.path / "kernel/drivers/virtio/virtio_ring.ko");
    write_file(tree.path / "kernel/drivers/virtio/virtio_ring.ko.zst", compress_with({"zstd", "-c", "-q"}, ring));
    tree.index("kernel/drivers/virtio/virtio.ko.xz:\n"
               "kernel/drivers/virtio/virtio_ring.ko.zst:\n"
               "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio_ring.ko.zst kernel/drivers/virtio/virtio.ko.xz\n");
    const std::vector<ModuleRequest> wanted{{"virtio_mmio"}};
    const auto loaded = ModuleTree::open(tree.path).load(wanted, std::string(kRelease));
    REQUIRE(names(loaded) == std::vector<std::string>{"virtio_ring", "virtio", "virtio_mmio"});
    CHECK(loaded[0].image == ring);
    CHECK(loaded[1].image == plain);
    // Without the index too.
    fs::remove(tree.path / "modules.dep");
    CHECK(names(ModuleTree::open(tree.path).load(wanted, std::nullopt)).size() == 3);
}

TEST_CASE("module tree: what cannot be loaded is one clear error", "[unit][initramfs]")
{
    FakeTree tree;
    const auto modules = ModuleTree::open(tree.path);
    const std::vector<ModuleRequest> missing{{"virtiofs"}};
    expect_config_error([&] { (void)modules.load(missing, std::nullopt); },
                             "kernel module 'virtiofs' is neither in '" + tree.path.string() +
                                 "' nor built into the kernel");
    const std::vector<ModuleRequest> optional{{"virtiofs", false}, {"virtio"}};
    CHECK(names(modules.load(optional, std::nullopt)) == std::vector<std::string>{"virtio"});
    const std::vector<ModuleRequest> wanted{{"virtio_mmio"}};
    expect_config_error([&] { (void)modules.load(wanted, std::string("6.1.0-1-other")); },
                             "was built for kernel 6.1.0-99-test-amd64, not 6.1.0-1-other");
    tree.add("kernel/drivers/virtio/virtio.ko", "virtio", "virtio_mmio"); // a cycle
    expect_config_error([&] { (void)ModuleTree::open(tree.path).load(wanted, std::nullopt); }, "dependency cycle");
    tree.index("not an index line\n");
    expect_config_error([&] { (void)ModuleTree::open(tree.path); }, "modules.dep line 1");
    expect_config_error([&] { (void)ModuleTree::open(tree.path / "nope"); }, "does not exist");
    expect_config_error([&] { (void)ModuleTree::open(tree.path / "modules.builtin"); }, "is not a directory");
}

TEST_CASE("module names: file names to names as the kernel compares them", "[unit][initramfs]")
{
    CHECK(module_name_of("kernel/drivers/char/hw_random/virtio-rng.ko.xz") == "virtio_rng");
    CHECK(module_name_of("fuse.ko") == "fuse");
    CHECK(module_name_of("a/b/virtio_blk.ko.zst") == "virtio_blk");
    CHECK(module_name_of("x.ko.gz") == "x");
    CHECK_FALSE(module_name_of("x.ko.bz2"));
    CHECK_FALSE(module_name_of(".ko"));
    CHECK_FALSE(module_name_of("bad name.ko"));
    CHECK_FALSE(module_name_of("../x.o"));
}

TEST_CASE("exec initramfs: the agent as /init, the modules in order, agent.conf", "[unit][initramfs]")
{
    ExecInitramfs spec;
    spec.modules.push_back({"virtio", "/x/virtio.ko", bytes_of("module-a")});
    spec.modules.push_back({"virtiofs", "/x/virtiofs.ko", bytes_of("module-b")});
    spec.shares.push_back({"root", "/", false});
    spec.shares.push_back({"rw0", "/home/user/my project", true});
    spec.hostname = "buildhost";
    const auto entries = parse_cpio(build_exec_initramfs(spec));
    const auto agent = guest_agent_image();
    REQUIRE(agent.size() > 1000);
    CHECK(std::vector<uint8_t>(agent.begin(), agent.begin() + 4) == std::vector<uint8_t>{0x7f, 'E', 'L', 'F'});
    CHECK(entries.at("init").data == std::vector<uint8_t>(agent.begin(), agent.end()));
    CHECK(entries.at("init").mode == (S_IFREG | 0755));
    CHECK(entries.at("dev/console").mode == (S_IFCHR | 0600));
    CHECK(entries.at("lib/modules/virtiofs.ko").data == bytes_of("module-b"));
    for (const char* dir : {"dev", "proc", "sys", "newroot", "etc/minivmm", "lib/modules"}) {
        CHECK((entries.at(dir).mode & S_IFMT) == S_IFDIR);
    }
    const auto conf = entries.at("etc/minivmm/agent.conf").data;
    CHECK(std::string(conf.begin(), conf.end()) == "module virtio\nmodule virtiofs\nmount root ro /\n"
                                                  "mount rw0 rw /home/user/my project\nhostname buildhost\n");
    CHECK(guest_agent_sha256().size() == 64);
}

TEST_CASE("exec initramfs: a user-mode NIC is one net line: MAC, address/prefix, gateway and DNS or '-'",
          "[unit][initramfs]")
{
    ExecInitramfs spec;
    spec.nics.push_back({{0x52, 0x54, 0x00, 0x0a, 0xbc, 0x01}, {10, 0, 2, 15}, 24, std::array<uint8_t, 4>{10, 0, 2, 2},
                         std::array<uint8_t, 4>{10, 0, 2, 3}});
    spec.nics.push_back({{0x52, 0x54, 0x00, 0xff, 0x00, 0x02}, {192, 168, 76, 9}, 22, std::nullopt, std::nullopt});
    CHECK(agent_config(spec) == "hostname minivmm\n"
                                "net 52:54:00:0a:bc:01 10.0.2.15/24 10.0.2.2 10.0.2.3\n"
                                "net 52:54:00:ff:00:02 192.168.76.9/22 - -\n");
    spec.nics.back().prefix_length = 31;
    expect_config_error([&] { (void)agent_config(spec); }, "192.168.76.9/31 has a prefix length outside 1-30");
}

TEST_CASE("exec initramfs: the embedded agent is a static executable", "[unit][initramfs]")
{
    const auto agent = guest_agent_image();
    Elf64_Ehdr header{};
    REQUIRE(agent.size() > sizeof(header));
    std::memcpy(&header, agent.data(), sizeof(header));
    CHECK(header.e_type == ET_EXEC); // not a PIE that would need a loader
    for (uint16_t i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr ph{};
        REQUIRE(header.e_phoff + (i + 1) * sizeof(ph) <= agent.size());
        std::memcpy(&ph, agent.data() + header.e_phoff + i * sizeof(ph), sizeof(ph));
        CHECK(ph.p_type != PT_INTERP);
        CHECK(ph.p_type != PT_DYNAMIC);
    }
}

TEST_CASE("exec initramfs: shares and names agent.conf cannot hold are refused", "[unit][initramfs]")
{
    ExecInitramfs spec;
    spec.shares.push_back({"root", "relative/path", false});
    expect_config_error([&] { (void)agent_config(spec); }, "not an absolute path");
    spec.shares.front() = {"root", "/a\nmount x rw /", false};
    expect_config_error([&] { (void)agent_config(spec); }, "not an absolute path on one line");
    spec.shares.front() = {"has space", "/", false};
    expect_config_error([&] { (void)agent_config(spec); }, "share tag 'has space'");
    spec.shares.front() = {std::string(37, 't'), "/", false};
    expect_config_error([&] { (void)agent_config(spec); }, "share tag");
    spec.shares.front() = {"root", "/", false};
    spec.hostname = "a\nb";
    expect_config_error([&] { (void)agent_config(spec); }, "host name");
}
