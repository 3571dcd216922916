// The command line of the `minivmm` program, parsed into a VmConfig.
#pragma once

#include <minivmm/vm_config.hpp>

#include <spdlog/common.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace CLI {
class App;
class Option;
} // namespace CLI

namespace minivmm::cli {

struct Options {
    VmConfig vm;
    spdlog::level::level_enum log_level = spdlog::level::warn;
};

// What the command line asks for: run a VM, or print something and exit.
struct PrintAndExit {
    std::string text;
    int exit_code = 0;
};
using ParseResult = std::variant<Options, PrintAndExit>;

// Never throws and never exits: errors come back as PrintAndExit with exit code 125 and
// a one-line message naming the problem.
[[nodiscard]] ParseResult parse_options(int argc, const char* const argv[]);

// parse_options()'s parser, for a caller that parses many command lines (fuzz_cli): building
// the parser (CLI11's options) is most of the cost of parsing one, so it is built once (and
// again every 1,000 parses: CLI11 keeps a little of every parse). Each parse() starts from the
// same defaults, whatever the previous one saw.
class CommandLineParser {
public:
    CommandLineParser();
    ~CommandLineParser();
    CommandLineParser(const CommandLineParser&) = delete;
    CommandLineParser& operator=(const CommandLineParser&) = delete;

    [[nodiscard]] ParseResult parse(int argc, const char* const argv[]);

private:
    static constexpr unsigned kParsesPerBuild = 1000;
    void build();

    struct Values;
    std::unique_ptr<Values> values_; // what CLI11 writes into: before app_, which points into it
    std::unique_ptr<CLI::App> app_;
    CLI::Option* cmdline_option_ = nullptr;
    unsigned parses_ = 0;
};

} // namespace minivmm::cli
