// Reading a whole host file (a kernel module, modules.dep) into memory, with a size limit and
// errors that name the file: "cannot open module 'PATH': No such file or directory".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace minivmm::initramfs {

// Throws ConfigError when the file cannot be opened or read, is a directory, or holds more
// than `limit` bytes. `what` names it in the message ("module", "modules.dep").
[[nodiscard]] std::vector<uint8_t> read_host_file(const std::filesystem::path& path, std::string_view what,
                                                  size_t limit);

} // namespace minivmm::initramfs
