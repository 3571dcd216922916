// --disk format= and snapshot= on the command line (issue 17).
#include "cli/parse.hpp"

#include <catch2/catch.hpp>

using namespace minivmm;
using namespace minivmm::cli;

TEST_CASE("disk specs: format and snapshot", "[unit][cli]")
{
    CHECK(std::get<DiskConfig>(parse_disk("a.img")).format == DiskFormat::Auto);
    CHECK_FALSE(std::get<DiskConfig>(parse_disk("a.img")).snapshot);
    CHECK(std::get<DiskConfig>(parse_disk("a.img,format=raw")).format == DiskFormat::Raw);
    CHECK(std::get<DiskConfig>(parse_disk("path=a.qcow2,format=qcow2")).format == DiskFormat::Qcow2);
    CHECK(std::get<DiskConfig>(parse_disk("a.img,snapshot=on")).snapshot);
    CHECK_FALSE(std::get<DiskConfig>(parse_disk("a.img,snapshot=off")).snapshot);
    CHECK(std::get<std::string>(parse_disk("a.img,format=vmdk")) ==
          "disk 'a.img,format=vmdk': format must be raw or qcow2, not 'vmdk'");
    CHECK(std::get<std::string>(parse_disk("a.img,snapshot=yes")) ==
          "disk 'a.img,snapshot=yes': snapshot must be on or off, not 'yes'");
    CHECK_THAT(std::get<std::string>(parse_disk("a.img,colour=red")), Catch::Contains("format, snapshot"));
}
