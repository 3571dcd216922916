// --share on the command line and VmConfig::shares: parsing, default tags, validation.
#include "cli/options.hpp"
#include "cli/parse.hpp"
#include "support/temp_dir.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace minivmm;
using namespace minivmm::cli;

namespace {

std::string problems_of(const VmConfig& config)
{
    std::string all;
    for (const auto& p : config.validate()) {
        all += p + "\n";
    }
    return all;
}

} // namespace

TEST_CASE("--share: path (or a bare first word), tag, readonly, cache, uid and gid maps", "[unit][cli][virtio-fs]")
{
    const auto share = std::get<ShareConfig>(parse_share("path=/srv/data,tag=data,readonly=on,cache=always,"
                                                         "uid=0:1000,uid=1:100000:65535,gid=0:1000"));
    CHECK(share.path == "/srv/data");
    CHECK(share.tag == "data");
    CHECK(share.readonly);
    CHECK(share.cache == ShareCache::Always);
    REQUIRE(share.uid_map.size() == 2);
    CHECK(share.uid_map[1].guest == 1);
    CHECK(share.uid_map[1].host == 100000);
    CHECK(share.uid_map[1].count == 65535);
    REQUIRE(share.gid_map.size() == 1);
    const auto bare = std::get<ShareConfig>(parse_share("/home/me/src,cache=never"));
    CHECK(bare.path == "/home/me/src");
    CHECK(bare.tag.empty());
    CHECK(!bare.readonly);
    CHECK(bare.cache == ShareCache::Never);
    CHECK(std::get<ShareConfig>(parse_share("/x")).cache == ShareCache::Auto);
    for (const char* bad : {"", "tag=x", "/x,readonly=yes", "/x,cache=sometimes", "/x,uid=1", "/x,uid=a:b",
                            "/x,gid=1:2:0", "/x,colour=blue", "/x,tag=", "/x,tag=0123456789012345678901234567890123456",
                            "/x,novalue"}) {
        INFO("--share " << bad);
        CHECK(std::holds_alternative<std::string>(parse_share(bad)));
    }
}

TEST_CASE("--share is repeatable; tags default to share0, share1, ... by position", "[unit][cli][virtio-fs]")
{
    test::TempDir a;
    test::TempDir b;
    std::vector<const char*> args{"minivmm", "--kernel", "k", "--share", a.path().c_str(), "--share"};
    const std::string second = "path=" + b.path().string() + ",tag=mine";
    args.push_back(second.c_str());
    args.push_back("--share");
    args.push_back(a.path().c_str());
    const auto result = parse_options(static_cast<int>(args.size()), args.data());
    REQUIRE(std::holds_alternative<Options>(result));
    const auto& shares = std::get<Options>(result).vm.shares;
    REQUIRE(shares.size() == 3);
    CHECK(shares[0].effective_tag(0) == "share0");
    CHECK(shares[1].effective_tag(1) == "mine");
    CHECK(shares[2].effective_tag(2) == "share2");
    std::vector<const char*> bad{"minivmm", "--kernel", "k", "--share", "/x,cache=bogus"};
    const auto error = parse_options(static_cast<int>(bad.size()), bad.data());
    REQUIRE(std::holds_alternative<PrintAndExit>(error));
    CHECK(std::get<PrintAndExit>(error).exit_code == 125);
    CHECK(std::get<PrintAndExit>(error).text.find("cache must be auto, always or never") != std::string::npos);
}

TEST_CASE("VmConfig: a share must be a readable directory with a unique tag of at most 36 bytes",
          "[unit][config][virtio-fs]")
{
    test::TempDir dir;
    dir.write("file", "x");
    VmConfig config;
    config.kernel = dir / "file";
    config.shares.push_back({dir.path(), "", false, ShareCache::Auto, {}, {}});
    CHECK(problems_of(config).empty());
    config.shares.push_back({dir / "file", "", false, ShareCache::Auto, {}, {}});
    config.shares.push_back({dir / "missing", "x", false, ShareCache::Auto, {}, {}});
    config.shares.push_back({dir.path(), "share0", false, ShareCache::Auto, {}, {}});
    config.shares.push_back({dir.path(), std::string(37, 't'), false, ShareCache::Auto, {{0, 0, 0}}, {}});
    const auto problems = problems_of(config);
    CHECK_THAT(problems, Catch::Contains("share 'share1': '" + (dir / "file").string() + "' is not a directory"));
    CHECK_THAT(problems, Catch::Contains("share 'x': '" + (dir / "missing").string() + "' is not a directory"));
    CHECK_THAT(problems, Catch::Contains("share tag 'share0' is given twice"));
    CHECK_THAT(problems, Catch::Contains("is longer than 36 bytes"));
    CHECK_THAT(problems, Catch::Contains("id range 0:0:0 is empty"));
    // Shares take virtio slots like every other device.
    VmConfig many;
    many.kernel = dir / "file";
    for (int i = 0; i < 18; ++i) {
        many.shares.push_back({dir.path(), "t" + std::to_string(i), true, ShareCache::Auto, {}, {}});
    }
    CHECK_THAT(problems_of(many), Catch::Contains("virtio devices asked for"));
    CHECK(parse_share_id_range("5:6:7")->count == 7);
    CHECK(!parse_share_id_range("5"));
}
