// A whole file's contents in one read: the tests compare images and kernels of many MiB, and
// a byte-wise stream iterator at the tests' -O0 spent seconds per file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace minivmm::test {

// The bytes of `path`; SupportError if it cannot be opened or read whole.
[[nodiscard]] std::string file_contents(const std::filesystem::path& path);

// The same, as bytes.
[[nodiscard]] std::vector<std::byte> file_contents_bytes(const std::filesystem::path& path);
[[nodiscard]] std::vector<uint8_t> file_contents_u8(const std::filesystem::path& path);

} // namespace minivmm::test
