// The one Catch2 main of every tier: minivmm logs warnings and errors only, so that test
// output is what the tests print.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <minivmm/log.hpp>

int main(int argc, char* argv[])
{
    minivmm::set_log_level(minivmm::LogLevel::Warn);
    return Catch::Session().run(argc, argv);
}
