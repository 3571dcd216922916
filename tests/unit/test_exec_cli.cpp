// `minivmm exec`'s command line (cli/exec_options.hpp) into an ExecConfig, and the binary's
// answer to bad input: one line naming the problem and exit code 125, before any VM starts.
#include "cli/exec_options.hpp"
#include "support/fake_kernel.hpp"
#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <sys/utsname.h>
#include <unistd.h>

using namespace minivmm;
using namespace minivmm::cli;
namespace fs = std::filesystem;

namespace {

ExecParseResult parse(std::vector<const char*> args, const std::vector<std::string>& env = {"HOME=/root", "X=0"})
{
    args.insert(args.begin(), {"minivmm", "exec"});
    return parse_exec_options(static_cast<int>(args.size()), args.data(), env);
}

const ExecOptions& options_of(const ExecParseResult& result)
{
    if (const auto* print = std::get_if<PrintAndExit>(&result)) {
        FAIL("parse failed: " << print->text);
    }
    return std::get<ExecOptions>(result);
}

std::string error_of(const ExecParseResult& result)
{
    REQUIRE(std::holds_alternative<PrintAndExit>(result));
    const auto& print = std::get<PrintAndExit>(result);
    CHECK(print.exit_code == 125);
    CHECK(print.text.starts_with("minivmm: error: "));
    CHECK(print.text.find('\n') == print.text.size() - 1);
    return print.text;
}

} // namespace

TEST_CASE("exec command line: every option into the ExecConfig", "[unit][exec][cli]")
{
    const auto result = parse({"--kernel", "k", "--modules", "/m", "--root", "/r", "--rw", "/a", "--rw", "/b", "--cwd",
                               "/w", "-e", "X=1", "--env", "Y=two words", "--mem", "1G", "--cpus", "2", "--timeout",
                               "30s", "--console-log", "/tmp/k.log", "-T", "--", "ls", "-l", "--color"});
    const auto& o = options_of(result);
    const auto& c = o.config;
    CHECK(c.vm.kernel == "k");
    CHECK(c.modules == fs::path("/m"));
    CHECK(c.root == "/r");
    CHECK(c.rw == std::vector<fs::path>{"/a", "/b"});
    CHECK(c.command.cwd == "/w");
    CHECK(c.command.argv == std::vector<std::string>{"ls", "-l", "--color"});
    CHECK(c.command.env == std::vector<std::string>{"HOME=/root", "X=1", "Y=two words"});
    CHECK(c.vm.memory_bytes == kGiB);
    CHECK(c.vm.cpus == 2);
    CHECK(c.vm.timeout == std::chrono::seconds(30));
    CHECK(c.vm.console.log == fs::path("/tmp/k.log"));
    CHECK(c.vm.console.mode == ConsoleMode::None);
    CHECK(c.vm.cmdline.empty()); // the log gets every message
    CHECK(o.tty == TtyMode::Never);
    CHECK_FALSE(o.verbose);
    const auto more = parse({"--seccomp", "off", "--net", "user,hostfwd=tcp::8080-:80", "--net", "tap=t0", "true"});
    const auto& m = options_of(more).config.vm;
    CHECK_FALSE(m.seccomp);
    REQUIRE(m.nets.size() == 2);
    CHECK(m.nets[0].mode == NetMode::User);
    REQUIRE(m.nets[0].user.host_forwards.size() == 1);
    CHECK(m.nets[0].user.host_forwards[0].host_port == 8080);
    CHECK(m.nets[1].tap == "t0");
}

TEST_CASE("exec command line: defaults, and the command without --", "[unit][exec][cli]")
{
    const auto result = parse({"--cpus", "3", "make", "-j", "--cpus", "4"});
    const auto& o = options_of(result);
    CHECK(o.config.command.argv == std::vector<std::string>{"make", "-j", "--cpus", "4"});
    CHECK(o.config.vm.cpus == 3);
    CHECK(o.config.vm.kernel.empty());
    CHECK_FALSE(o.config.modules);
    CHECK(o.config.root == "/");
    CHECK(o.config.command.cwd.empty());
    CHECK(o.config.vm.cmdline == "quiet");
    CHECK(o.config.vm.console.mode == ConsoleMode::None);
    CHECK(o.tty == TtyMode::Auto);
    CHECK(o.log_level == spdlog::level::warn);
    CHECK(o.config.vm.seccomp);
    CHECK(o.config.vm.nets.empty()); // no network unless asked for
    // "--" after the command is the command's.
    const auto grep = parse({"grep", "--", "-x"});
    CHECK(options_of(grep).config.command.argv == std::vector<std::string>{"grep", "--", "-x"});
}

TEST_CASE("exec command line: --verbose shows the kernel's messages on stderr", "[unit][exec][cli]")
{
    const auto result = parse({"-v", "-t", "true"});
    const auto& o = options_of(result);
    CHECK(o.verbose);
    CHECK(o.config.vm.console.mode == ConsoleMode::Stderr);
    CHECK(o.config.vm.cmdline.empty());
    CHECK(o.log_level == spdlog::level::info);
    CHECK(o.tty == TtyMode::Always);
    const auto own = parse({"-v", "--cmdline", "loglevel=4", "true"});
    CHECK(options_of(own).config.vm.cmdline == "loglevel=4");
}

TEST_CASE("exec command line: --env sets or replaces a variable of the caller's environment", "[unit][exec][cli]")
{
    CHECK(apply_env({"A=1", "B=2", "AB=3"}, {"A=x", "C=", "B=y=z"}) ==
          std::vector<std::string>{"AB=3", "A=x", "C=", "B=y=z"});
}

TEST_CASE("exec command line: mistakes are one line and 125", "[unit][exec][cli]")
{
    CHECK_THAT(error_of(parse({})), Catch::Contains("no command to run"));
    CHECK_THAT(error_of(parse({"--rw", "/x", "--"})), Catch::Contains("no command to run"));
    CHECK_THAT(error_of(parse({"--env", "NOEQUALS", "true"})), Catch::Contains("--env 'NOEQUALS' is not NAME=VALUE"));
    CHECK_THAT(error_of(parse({"--env", "=x", "true"})), Catch::Contains("is not NAME=VALUE"));
    CHECK_THAT(error_of(parse({"-t", "-T", "true"})), Catch::Contains("contradict"));
    CHECK_THAT(error_of(parse({"--mem", "lots", "true"})), Catch::Contains("memory size 'lots'"));
    CHECK_THAT(error_of(parse({"--bogus", "true"})), Catch::Contains("--bogus"));
    CHECK_THAT(error_of(parse({"--mem"})), Catch::Contains("--mem"));
    CHECK_THAT(error_of(parse({"--log-level", "loud", "true"})), Catch::Contains("log level 'loud'"));
    CHECK_THAT(error_of(parse({"--disk", "readonly=on", "true"})), Catch::Contains("no path=FILE"));
    CHECK_THAT(error_of(parse({"--seccomp", "maybe", "true"})), Catch::Contains("--seccomp must be on or off"));
    CHECK_THAT(error_of(parse({"--net", "user,restrict=maybe", "true"})), Catch::Contains("restrict"));
}

TEST_CASE("exec command line: --help shows the usage and the exit codes", "[unit][exec][cli]")
{
    const auto result = parse({"--help"});
    REQUIRE(std::holds_alternative<PrintAndExit>(result));
    const auto& print = std::get<PrintAndExit>(result);
    CHECK(print.exit_code == 0);
    CHECK_THAT(print.text, Catch::Contains("Usage: minivmm exec [OPTIONS] [--] COMMAND [ARGS...]"));
    CHECK_THAT(print.text, Catch::Contains("--rw"));
    CHECK_THAT(print.text, Catch::Contains("128+N"));
    for (const char* code : {"124 ", "125 ", "126 "}) {
        CHECK_THAT(print.text, Catch::Contains(code));
    }
    CHECK_THAT(print.text, Catch::Contains("--seccomp"));
}

namespace {

// A kernel file whose release is read (nothing boots: every error below comes first).
struct FakeKernel {
    fs::path dir = fs::temp_directory_path() / ("minivmm-exec-cli-" + std::to_string(::getpid()));
    fs::path kernel = dir / "vmlinuz";
    FakeKernel()
    {
        fs::remove_all(dir);
        test::write_bytes(kernel, test::fake_bzimage("6.1.0-88-fake (x) #1"));
    }
    ~FakeKernel() { fs::remove_all(dir); }
};

void expect_binary_error(std::vector<std::string> args, const std::string& mention)
{
    args.insert(args.begin(), {MINIVMM_BINARY, "exec"});
    const auto result = test::run_process(args, std::chrono::seconds(30));
    INFO("args: " << Catch::Detail::stringify(args) << "\nstderr: " << result.err);
    CHECK(result.exit_code == 125);
    CHECK_THAT(result.err, Catch::StartsWith("minivmm: error: ") && Catch::Contains(mention));
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    CHECK(result.out.empty());
}

} // namespace

TEST_CASE("exec binary: bad input is one line naming the problem, exit code 125", "[unit][exec][cli-errors]")
{
    FakeKernel fake;
    const auto k = fake.kernel.string();
    expect_binary_error({"--kernel", "/nonexistent/vmlinuz", "--", "true"}, "cannot open kernel '/nonexistent/vmlinuz'");
    expect_binary_error({"--kernel", k, "--", "true"}, "no modules for kernel 6.1.0-88-fake: '/lib/modules/6.1.0-88-fake'");
    expect_binary_error({"--kernel", k, "--modules", "/nonexistent/mods", "--", "true"},
                        "module directory '/nonexistent/mods' does not exist");
    expect_binary_error({"--kernel", k, "--builtin-drivers", "--rw", "/nonexistent/rw", "--", "true"},
                        "--rw '/nonexistent/rw' is not a directory");
    expect_binary_error({"--kernel", k, "--builtin-drivers", "--root", fake.dir.string(), "--cwd", "/nonexistent",
                         "--", "true"},
                        "--cwd '/nonexistent' is not a directory in the root");
    expect_binary_error({"--kernel", k, "--builtin-drivers", "--root", "/nonexistent/root", "--", "true"},
                        "--root '/nonexistent/root' is not a directory");
    expect_binary_error({"--kernel", k, "--builtin-drivers"}, "no command to run");
    // Without --kernel the running kernel's image: where the host has none, that is the error.
    utsname names{};
    REQUIRE(::uname(&names) == 0);
    std::error_code ec;
    if (!fs::exists(fs::path("/boot") / (std::string("vmlinuz-") + names.release), ec)) {
        expect_binary_error({"--", "true"}, std::string("the running kernel ") + names.release + " has no image");
    }
}
