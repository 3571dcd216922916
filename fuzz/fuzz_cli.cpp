// libFuzzer target: the command line, parsed into a VmConfig and validated, as `minivmm`
// does before anything else. The input is argv: NUL-separated words (at most 64). Every
// input must end in Options or in PrintAndExit with a one-line message and exit code 0 or
// 125; parse_options() never throws and never exits. One CommandLineParser parses every input
// (what parse_options() builds afresh), which also checks that a parse does not depend on the
// one before it: unit tests compare the two.
#include "cli/options.hpp"

#include <cstdlib>
#include <string>
#include <vector>

using namespace minivmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::vector<std::string> words{"minivmm"};
    std::string word;
    for (size_t i = 0; i < size && words.size() < 64; ++i) {
        if (data[i] == 0) {
            words.push_back(word);
            word.clear();
        } else {
            word.push_back(static_cast<char>(data[i]));
        }
    }
    if (!word.empty() && words.size() < 64) {
        words.push_back(word);
    }
    std::vector<const char*> argv;
    for (const auto& w : words) {
        argv.push_back(w.c_str());
    }
    argv.push_back(nullptr);
    static cli::CommandLineParser parser;
    const auto result = parser.parse(static_cast<int>(words.size()), argv.data());
    if (const auto* options = std::get_if<cli::Options>(&result)) {
        (void)options->vm.validate(); // the builder's first step: problems as text, never a throw
    } else {
        const auto& print = std::get<cli::PrintAndExit>(result);
        if (print.exit_code != 0 && print.exit_code != 125) {
            std::abort();
        }
        if (print.exit_code == 125 && print.text.empty()) {
            std::abort();
        }
    }
    return 0;
}
