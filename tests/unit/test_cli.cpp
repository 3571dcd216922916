#include "cli/options.hpp"
#include "cli/parse.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

using namespace minivmm;
using namespace minivmm::cli;

namespace {

ParseResult parse(std::vector<const char*> args)
{
    args.insert(args.begin(), "minivmm");
    return parse_options(static_cast<int>(args.size()), args.data());
}

std::string error_of(const ParseResult& result)
{
    REQUIRE(std::holds_alternative<PrintAndExit>(result));
    const auto& print = std::get<PrintAndExit>(result);
    CHECK(print.exit_code == 125);
    // One line naming the problem.
    CHECK(print.text.starts_with("minivmm: error: "));
    CHECK(print.text.find('\n') == print.text.size() - 1);
    return print.text;
}

} // namespace

TEST_CASE("memory sizes take K/M/G/T suffixes and default to MiB", "[unit][cli]")
{
    CHECK(std::get<uint64_t>(parse_memory_size("512M")) == 512 * kMiB);
    CHECK(std::get<uint64_t>(parse_memory_size("512")) == 512 * kMiB);
    CHECK(std::get<uint64_t>(parse_memory_size("2G")) == 2 * kGiB);
    CHECK(std::get<uint64_t>(parse_memory_size("3584MiB")) == 3584 * kMiB);
    CHECK(std::get<uint64_t>(parse_memory_size("65536K")) == 64 * kMiB);
    CHECK(std::get<uint64_t>(parse_memory_size("1T")) == 1024 * kGiB);
    CHECK(std::holds_alternative<std::string>(parse_memory_size("")));
    CHECK(std::holds_alternative<std::string>(parse_memory_size("M")));
    CHECK(std::holds_alternative<std::string>(parse_memory_size("12X")));
    CHECK(std::holds_alternative<std::string>(parse_memory_size("-5M")));
    CHECK(std::holds_alternative<std::string>(parse_memory_size("99999999999999999999")));
    CHECK(std::holds_alternative<std::string>(parse_memory_size("99999999999T")));
}

TEST_CASE("durations", "[unit][cli]")
{
    using std::chrono::milliseconds;
    CHECK(std::get<milliseconds>(parse_duration("30")) == milliseconds(30'000));
    CHECK(std::get<milliseconds>(parse_duration("30s")) == milliseconds(30'000));
    CHECK(std::get<milliseconds>(parse_duration("250ms")) == milliseconds(250));
    CHECK(std::get<milliseconds>(parse_duration("2m")) == milliseconds(120'000));
    CHECK(std::holds_alternative<std::string>(parse_duration("0")));
    CHECK(std::holds_alternative<std::string>(parse_duration("5d")));
}

TEST_CASE("console specs", "[unit][cli]")
{
    CHECK(std::get<ConsoleConfig>(parse_console("stdio")).mode == ConsoleMode::Stdio);
    CHECK(std::get<ConsoleConfig>(parse_console("none")).mode == ConsoleMode::None);
    CHECK(std::get<ConsoleConfig>(parse_console("stdout")).mode == ConsoleMode::Stdout);
    auto file = std::get<ConsoleConfig>(parse_console("file:/tmp/x.log"));
    CHECK(file.mode == ConsoleMode::File);
    CHECK(file.path == "/tmp/x.log");
    CHECK(std::holds_alternative<std::string>(parse_console("file:")));
    CHECK(std::holds_alternative<std::string>(parse_console("tty")));
    CHECK(std::get<ConsoleConfig>(parse_console("stdio")).device == ConsoleDevice::Serial);
    auto virtio = std::get<ConsoleConfig>(parse_console("virtio"));
    CHECK(virtio.device == ConsoleDevice::Virtio);
    CHECK(virtio.mode == ConsoleMode::Stdio);
    auto virtio_file = std::get<ConsoleConfig>(parse_console("virtio,file:/tmp/v.log"));
    CHECK(virtio_file.device == ConsoleDevice::Virtio);
    CHECK(virtio_file.mode == ConsoleMode::File);
    CHECK(virtio_file.path == "/tmp/v.log");
    CHECK(std::get<ConsoleConfig>(parse_console("none,serial")).mode == ConsoleMode::None);
    CHECK(std::holds_alternative<std::string>(parse_console("stdio,none")));
    CHECK(std::holds_alternative<std::string>(parse_console("virtio,")));
}

TEST_CASE("disk specs", "[unit][cli]")
{
    auto plain = std::get<DiskConfig>(parse_disk("path=/img/a.raw"));
    CHECK(plain.path == "/img/a.raw");
    CHECK_FALSE(plain.readonly);
    CHECK(plain.serial.empty());
    CHECK(plain.cache == DiskCache::Writeback);
    auto full = std::get<DiskConfig>(parse_disk("path=b.img,readonly=on,serial=SN-1,cache=none"));
    CHECK(full.path == "b.img");
    CHECK(full.readonly);
    CHECK(full.serial == "SN-1");
    CHECK(full.cache == DiskCache::None);
    CHECK(std::get<DiskConfig>(parse_disk("c.img,ro=on")).path == "c.img");
    CHECK(std::get<DiskConfig>(parse_disk("c.img,ro=on")).readonly);
    CHECK_THAT(std::get<std::string>(parse_disk("readonly=on")), Catch::Contains("no path"));
    CHECK_THAT(std::get<std::string>(parse_disk("path=x,readonly=yes")), Catch::Contains("readonly"));
    CHECK_THAT(std::get<std::string>(parse_disk("path=x,cache=directsync")), Catch::Contains("cache"));
    CHECK(std::get<DiskConfig>(parse_disk("x")).aio == DiskAio::Auto);
    CHECK(std::get<DiskConfig>(parse_disk("x,aio=sync")).aio == DiskAio::Sync);
    CHECK(std::get<DiskConfig>(parse_disk("x,aio=io_uring")).aio == DiskAio::IoUring);
    CHECK(std::get<DiskConfig>(parse_disk("x,aio=auto")).aio == DiskAio::Auto);
    CHECK_THAT(std::get<std::string>(parse_disk("path=x,aio=threads")),
               Catch::Contains("aio must be auto, io_uring or sync, not 'threads'"));
    CHECK(std::get<DiskConfig>(parse_disk("x")).lock);
    CHECK_FALSE(std::get<DiskConfig>(parse_disk("x,lock=off")).lock);
    CHECK(std::get<DiskConfig>(parse_disk("x,lock=on")).lock);
    CHECK_THAT(std::get<std::string>(parse_disk("path=x,lock=maybe")),
               Catch::Contains("lock must be on or off, not 'maybe'"));
    CHECK_THAT(std::get<std::string>(parse_disk("path=x,colour=red")), Catch::Contains("colour"));
    CHECK_THAT(std::get<std::string>(parse_disk("path=x,junk")), Catch::Contains("junk"));
}

TEST_CASE("--disk is repeatable and --console virtio switches the default command line", "[unit][cli]")
{
    auto result = parse({"--kernel", "k", "--disk", "path=a.img", "--disk", "b.img,readonly=on", "--console", "virtio"});
    REQUIRE(std::holds_alternative<Options>(result));
    const auto& options = std::get<Options>(result);
    REQUIRE(options.vm.disks.size() == 2);
    CHECK(options.vm.disks[0].path == "a.img");
    CHECK(options.vm.disks[1].readonly);
    CHECK(options.vm.cmdline == VmConfig::kDefaultVirtioConsoleCmdline);
    auto explicit_cmdline = parse({"--kernel", "k", "--console", "virtio", "--cmdline", "console=hvc0 quiet"});
    CHECK(std::get<Options>(explicit_cmdline).vm.cmdline == "console=hvc0 quiet");
    CHECK_THAT(error_of(parse({"--kernel", "k", "--disk", "path=a,cache=x"})), Catch::Contains("cache"));
}

TEST_CASE("net specs: tap=NAME[,mac=...][,create=on]", "[unit][cli][virtio-net]")
{
    const auto plain = std::get<NetConfig>(parse_net("tap=tap0"));
    CHECK(plain.tap == "tap0");
    CHECK_FALSE(plain.mac.has_value());
    CHECK_FALSE(plain.create);

    const auto full = std::get<NetConfig>(parse_net("tap=vm-net1,mac=52:54:00:AB:cd:01,create=on"));
    CHECK(full.tap == "vm-net1");
    REQUIRE(full.mac.has_value());
    CHECK(*full.mac == std::array<uint8_t, 6>{0x52, 0x54, 0x00, 0xab, 0xcd, 0x01});
    CHECK(full.create);
    CHECK_FALSE(std::get<NetConfig>(parse_net("create=off,tap=t")).create);
    // A universally administered unicast address is fine too.
    CHECK(std::get<NetConfig>(parse_net("tap=t,mac=00:1b:21:0a:0b:0c")).mac.has_value());
}

TEST_CASE("net specs: bad MACs, names and keys are one-line errors", "[unit][cli][virtio-net]")
{
    const auto error = [](std::string_view spec) {
        const auto parsed = parse_net(spec);
        REQUIRE(std::holds_alternative<std::string>(parsed));
        return std::get<std::string>(parsed);
    };
    CHECK_THAT(error("mac=52:54:00:12:34:56"), Catch::Contains("no tap=NAME"));
    CHECK_THAT(error(""), Catch::Contains("is not KEY=VALUE"));
    CHECK_THAT(error("tap0"), Catch::Contains("'tap0' is not KEY=VALUE"));
    CHECK_THAT(error("tap="), Catch::Contains("not an interface name"));
    CHECK_THAT(error("tap=a-name-of-16-chr"), Catch::Contains("not an interface name"));
    CHECK_THAT(error("tap=a/b"), Catch::Contains("not an interface name"));
    CHECK_THAT(error("tap=t,mac=01:00:5e:00:00:01"), Catch::Contains("multicast"));
    CHECK_THAT(error("tap=t,mac=00:00:00:00:00:00"), Catch::Contains("all zeros"));
    for (const char* bad : {"52:54:00:12:34", "52:54:00:12:34:56:78", "52-54-00-12-34-56", "52:54:00:12:34:5g",
                            "525:4:00:12:34:56", "52:54:00:12:34:+6", "52:54:00:12:34:56 ", ""}) {
        CAPTURE(bad);
        CHECK_THAT(error(std::string("tap=t,mac=") + bad), Catch::Contains("is not six hex pairs"));
    }
    CHECK_THAT(error("tap=t,create=yes"), Catch::Contains("create must be on or off"));
    CHECK_THAT(error("tap=t,queues=4"), Catch::Contains("unknown key 'queues'"));
}

TEST_CASE("--net is repeatable and errors name the spec", "[unit][cli][virtio-net]")
{
    auto result = parse({"--kernel", "k", "--net", "tap=tap0", "--net", "tap=tap1,mac=02:00:00:00:00:01,create=on"});
    REQUIRE(std::holds_alternative<Options>(result));
    const auto& options = std::get<Options>(result);
    REQUIRE(options.vm.nets.size() == 2);
    CHECK(options.vm.nets[0].tap == "tap0");
    CHECK(options.vm.nets[1].tap == "tap1");
    CHECK(options.vm.nets[1].create);
    CHECK((*options.vm.nets[1].mac)[0] == 0x02);
    CHECK_THAT(error_of(parse({"--kernel", "k", "--net", "tap=t,mac=ff:ff:ff:ff:ff:ff"})),
               Catch::Contains("net 'tap=t,mac=ff:ff:ff:ff:ff:ff'"));
}

TEST_CASE("command line defaults", "[unit][cli]")
{
    auto result = parse({"--kernel", "bzImage"});
    REQUIRE(std::holds_alternative<Options>(result));
    const auto& options = std::get<Options>(result);
    CHECK(options.vm.kernel == "bzImage");
    CHECK_FALSE(options.vm.initrd.has_value());
    CHECK(options.vm.memory_bytes == 512 * kMiB);
    CHECK(options.vm.cpus == 1);
    CHECK(options.vm.cmdline == "console=ttyS0 reboot=k panic=-1");
    CHECK(options.vm.console.mode == ConsoleMode::Stdio);
    CHECK_FALSE(options.vm.timeout.has_value());
}

TEST_CASE("every flag reaches the configuration", "[unit][cli]")
{
    auto result = parse({"--kernel", "k", "--initrd", "i", "--cmdline", "test=hello", "--mem", "1G", "--cpus", "4",
                         "--console", "file:/tmp/c", "--timeout", "10s", "--log-level", "debug"});
    REQUIRE(std::holds_alternative<Options>(result));
    const auto& options = std::get<Options>(result);
    CHECK(options.vm.initrd.value() == "i");
    CHECK(options.vm.cmdline == "test=hello");
    CHECK(options.vm.memory_bytes == kGiB);
    CHECK(options.vm.cpus == 4);
    CHECK(options.vm.console.mode == ConsoleMode::File);
    CHECK(options.vm.timeout.value() == std::chrono::seconds(10));
    CHECK(options.log_level == spdlog::level::debug);
}

TEST_CASE("CI flags: --console stdout, --console-log, --exit-on, --fail-on", "[unit][cli]")
{
    auto result = parse({"--kernel", "k", "--console", "stdout", "--console-log", "/tmp/console.log", "--exit-on",
                         "^TESTS PASSED$", "--fail-on", "Kernel panic"});
    REQUIRE(std::holds_alternative<Options>(result));
    const auto& console = std::get<Options>(result).vm.console;
    CHECK(console.mode == ConsoleMode::Stdout);
    CHECK(console.log.value() == "/tmp/console.log");
    CHECK(console.exit_on.value() == "^TESTS PASSED$");
    CHECK(console.fail_on.value() == "Kernel panic");
    const auto plain = std::get<Options>(parse({"--kernel", "k"})).vm.console;
    CHECK_FALSE(plain.log.has_value());
    CHECK_FALSE(plain.exit_on.has_value());
    CHECK_FALSE(plain.fail_on.has_value());
}

TEST_CASE("a flag given twice takes its last value", "[unit][cli]")
{
    auto result = parse({"--kernel", "k", "--mem", "1G", "--mem", "64M"});
    REQUIRE(std::holds_alternative<Options>(result));
    CHECK(std::get<Options>(result).vm.memory_bytes == 64 * kMiB);
}

TEST_CASE("bad command lines give one line and exit code 125", "[unit][cli]")
{
    CHECK_THAT(error_of(parse({})), Catch::Contains("--kernel"));
    CHECK_THAT(error_of(parse({"--kernel", "k", "--bogus"})), Catch::Contains("--bogus"));
    CHECK_THAT(error_of(parse({"--kernel", "k", "--mem", "12X"})), Catch::Contains("12X"));
    CHECK_THAT(error_of(parse({"--kernel", "k", "--cpus", "two"})), Catch::Contains("--cpus"));
    CHECK_THAT(error_of(parse({"--kernel", "k", "--console", "tty"})), Catch::Contains("tty"));
    CHECK_THAT(error_of(parse({"--kernel", "k", "--log-level", "loud"})), Catch::Contains("loud"));
    CHECK_THAT(error_of(parse({"--kernel", "k", "--timeout", "soon"})), Catch::Contains("soon"));
}

TEST_CASE("--help documents the exit codes", "[unit][cli]")
{
    auto result = parse({"--help"});
    REQUIRE(std::holds_alternative<PrintAndExit>(result));
    const auto& print = std::get<PrintAndExit>(result);
    CHECK(print.exit_code == 0);
    CHECK_THAT(print.text, Catch::Contains("124") && Catch::Contains("125") && Catch::Contains("126") &&
                               Catch::Contains("--kernel") && Catch::Contains("--log-level"));
    CHECK_THAT(print.text, Catch::Contains("--exit-on") && Catch::Contains("--fail-on") &&
                               Catch::Contains("--console-log") && Catch::Contains("console line matched --fail-on"));
}

TEST_CASE("--seccomp on|off", "[unit][cli][seccomp]")
{
    auto result = parse({"--kernel", "k"});
    REQUIRE(std::holds_alternative<Options>(result));
    CHECK(std::get<Options>(result).vm.seccomp);
    result = parse({"--kernel", "k", "--seccomp", "off"});
    REQUIRE(std::holds_alternative<Options>(result));
    CHECK_FALSE(std::get<Options>(result).vm.seccomp);
    CHECK_THAT(error_of(parse({"--kernel", "k", "--seccomp", "maybe"})),
               Catch::Contains("--seccomp must be on or off, not 'maybe'"));
}

TEST_CASE("--rng on|off: a virtio-rng device unless off", "[unit][cli][virtio-rng]")
{
    auto result = parse({"--kernel", "k"});
    REQUIRE(std::holds_alternative<Options>(result));
    CHECK(std::get<Options>(result).vm.rng);
    result = parse({"--kernel", "k", "--rng", "off"});
    REQUIRE(std::holds_alternative<Options>(result));
    CHECK_FALSE(std::get<Options>(result).vm.rng);
    CHECK_THAT(error_of(parse({"--kernel", "k", "--rng", "maybe"})), Catch::Contains("--rng must be on or off, not 'maybe'"));
}

TEST_CASE("a reused CommandLineParser starts every parse from the defaults", "[unit][cli]")
{
    // fuzz_cli parses every input with one parser: a value left from the command line before
    // would make its results depend on the order of the inputs.
    CommandLineParser parser;
    auto run = [&parser](std::vector<const char*> args) {
        args.insert(args.begin(), "minivmm");
        return parser.parse(static_cast<int>(args.size()), args.data());
    };
    const auto full = run({"--kernel", "k", "--initrd", "i", "--cmdline", "quiet", "--mem", "1G", "--cpus", "4",
                           "--no-acpi", "--console", "virtio,stdout", "--disk", "path=a", "--disk", "path=b",
                           "--timeout", "5s", "--console-log", "log", "--exit-on", "done", "--fail-on", "panic",
                           "--log-level", "debug", "--rng", "off", "--thp", "off", "--seccomp", "off"});
    REQUIRE(std::holds_alternative<Options>(full));
    CHECK(std::get<Options>(full).vm.cpus == 4);
    CHECK(std::get<Options>(full).vm.disks.size() == 2);

    const auto again = run({"--kernel", "k2"});
    const auto fresh = parse({"--kernel", "k2"});
    REQUIRE(std::holds_alternative<Options>(again));
    REQUIRE(std::holds_alternative<Options>(fresh));
    const VmConfig& reused = std::get<Options>(again).vm;
    const VmConfig& expected = std::get<Options>(fresh).vm;
    CHECK(reused.kernel == expected.kernel);
    CHECK(reused.initrd == expected.initrd);
    CHECK(reused.cmdline == expected.cmdline);
    CHECK(reused.memory_bytes == expected.memory_bytes);
    CHECK(reused.cpus == expected.cpus);
    CHECK(reused.acpi == expected.acpi);
    CHECK(reused.console.device == expected.console.device);
    CHECK(reused.console.log == expected.console.log);
    CHECK(reused.console.exit_on == expected.console.exit_on);
    CHECK(reused.console.fail_on == expected.console.fail_on);
    CHECK(reused.disks.empty());
    CHECK(reused.timeout == expected.timeout);
    CHECK(reused.rng == expected.rng);
    CHECK(reused.transparent_huge_pages == expected.transparent_huge_pages);
    CHECK(reused.seccomp == expected.seccomp);
    CHECK(std::get<Options>(again).log_level == std::get<Options>(fresh).log_level);

    // An error, then help, then a good line: each as a fresh parser answers it.
    CHECK(error_of(run({"--kernel", "k", "--cpus", "x"})) == error_of(parse({"--kernel", "k", "--cpus", "x"})));
    const auto help = run({"--help"});
    REQUIRE(std::holds_alternative<PrintAndExit>(help));
    CHECK(std::get<PrintAndExit>(help).exit_code == 0);
    const auto last = run({"--kernel", "k3", "--cpus", "2"});
    REQUIRE(std::holds_alternative<Options>(last));
    CHECK(std::get<Options>(last).vm.cpus == 2);
    CHECK(std::get<Options>(last).vm.kernel == "k3");
}
