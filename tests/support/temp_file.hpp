// A scratch file under $TMPDIR (or /tmp) holding given bytes, removed on destruction; for
// tests that need a real host file (the loaders read kernels and initrds from files).
// Catch2-free (support_check.hpp).
#pragma once

#include "support/support_check.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace minivmm::test {

class TempFile {
public:
    explicit TempFile(std::span<const std::byte> content, std::string_view prefix = "minivmm-test")
    {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + std::string(prefix) +
                              "-XXXXXX";
        const int fd = ::mkstemp(pattern.data());
        support_check(fd >= 0, "mkstemp failed");
        path_ = pattern;
        size_t done = 0;
        while (done < content.size()) {
            const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
            support_check(n > 0, "cannot write the temporary file");
            done += static_cast<size_t>(n);
        }
        ::close(fd);
    }
    ~TempFile() { ::unlink(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

} // namespace minivmm::test
