#include "loader/kernel_release.hpp"

#include "loader/boot_params.hpp"
#include "loader/image_bytes.hpp"

#include <algorithm>
#include <string_view>

namespace minivmm::loader {
namespace {

// A release is at most 64 characters of printable text without blanks (UTS_LEN, utsname.h).
constexpr size_t kMaxRelease = 64;

bool is_release_char(char c) { return c > ' ' && c < 0x7f && c != '%'; }

std::string as_text(std::span<const std::byte> bytes)
{
    std::string text(bytes.size(), '\0');
    std::transform(bytes.begin(), bytes.end(), text.begin(), [](std::byte b) { return static_cast<char>(b); });
    return text;
}

// The leading release word of `text` if it is followed by a blank (or the end of a
// NUL-terminated string), else nullopt.
std::optional<std::string> leading_release(std::string_view text, bool end_is_blank)
{
    size_t n = 0;
    while (n < text.size() && n <= kMaxRelease && is_release_char(text[n])) {
        ++n;
    }
    if (n == 0 || n > kMaxRelease) {
        return std::nullopt;
    }
    const bool blank_follows = n < text.size() ? (text[n] == ' ' || (end_is_blank && text[n] == '\0')) : end_is_blank;
    if (!blank_follows) {
        return std::nullopt;
    }
    return std::string(text.substr(0, n));
}

std::optional<std::string> bzimage_release(std::span<const std::byte> image)
{
    const auto boot_flag = read_struct<uint16_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, boot_flag));
    const auto magic = read_struct<uint32_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, header));
    const auto version = read_struct<uint16_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, version));
    const auto pointer = read_struct<uint16_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, kernel_version));
    // kernel_version exists from protocol 2.00 on; 0 means "not set".
    if (!boot_flag || *boot_flag != kBootFlag || !magic || *magic != kHdrSMagic || !version || *version < 0x200 ||
        !pointer || *pointer == 0) {
        return std::nullopt;
    }
    const uint64_t offset = uint64_t{*pointer} + 0x200;
    if (offset >= image.size()) {
        return std::nullopt;
    }
    const auto text = as_text(image.subspan(offset, std::min<size_t>(image.size() - offset, kMaxRelease + 1)));
    return leading_release(text, true);
}

std::optional<std::string> banner_release(std::span<const std::byte> image)
{
    constexpr std::string_view kBanner = "Linux version ";
    const auto same = [](std::byte b, char c) { return static_cast<char>(b) == c; };
    for (auto it = image.begin(); it != image.end(); ++it) {
        it = std::search(it, image.end(), kBanner.begin(), kBanner.end(), same);
        if (it == image.end()) {
            break;
        }
        const auto start = static_cast<size_t>(it - image.begin()) + kBanner.size();
        const auto rest = as_text(image.subspan(start, std::min(image.size() - start, kMaxRelease + 2)));
        auto release = leading_release(rest, false);
        // linux_banner continues "RELEASE (builder@host) (compiler...) #1 SMP ...".
        if (release && rest.size() > release->size() + 1 && rest[release->size() + 1] == '(') {
            return release;
        }
    }
    return std::nullopt;
}

} // namespace

std::optional<std::string> kernel_release(std::span<const std::byte> image)
{
    if (auto release = bzimage_release(image)) {
        return release;
    }
    return banner_release(image);
}

} // namespace minivmm::loader
