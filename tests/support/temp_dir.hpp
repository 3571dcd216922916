// A scratch directory under $TMPDIR (or /tmp), removed with everything in it on destruction;
// for tests and fuzz targets that need real host files. Catch2-free (support_check.hpp).
#pragma once

#include "support/file_contents.hpp"
#include "support/support_check.hpp"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace minivmm::test {

class TempDir {
public:
    // Under `parent`, or $TMPDIR, or /tmp.
    explicit TempDir(std::string_view prefix = "minivmm-test", std::string parent = {})
    {
        const char* tmp = std::getenv("TMPDIR");
        if (parent.empty()) {
            parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
        }
        std::string pattern = parent + "/" + std::string(prefix) + "-XXXXXX";
        support_check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path operator/(const std::filesystem::path& rel) const { return path_ / rel; }

    // Writes `content` to the file `rel` (parents made as needed).
    void write(const std::filesystem::path& rel, std::string_view content) const
    {
        std::filesystem::create_directories((path_ / rel).parent_path());
        std::ofstream out(path_ / rel, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        support_check(static_cast<bool>(out), "cannot write a file in the temporary directory");
    }
    [[nodiscard]] std::string read(const std::filesystem::path& rel) const
    {
        return file_contents(path_ / rel);
    }

private:
    std::filesystem::path path_;
};

} // namespace minivmm::test
