#include "initramfs/decompress.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <lzma.h>
#define ZLIB_CONST
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <memory>

namespace minivmm::initramfs {
namespace {

constexpr std::array<uint8_t, 2> kGzipMagic{0x1f, 0x8b};
constexpr std::array<uint8_t, 6> kXzMagic{0xfd, '7', 'z', 'X', 'Z', 0x00};
constexpr std::array<uint8_t, 4> kZstdMagic{0x28, 0xb5, 0x2f, 0xfd};
// The output grows by this much at a time (modules are ~10 KiB to a few MiB).
constexpr size_t kChunk = 256 * 1024;

template <size_t N>
bool starts_with(std::span<const uint8_t> data, const std::array<uint8_t, N>& magic)
{
    return data.size() >= N && std::equal(magic.begin(), magic.end(), data.begin());
}

[[noreturn]] void fail(std::string_view what, Compression format, std::string_view why)
{
    throw ConfigError(fmt::format("{}: cannot decompress ({}): {}", what, to_string(format), why));
}

// Grows `out` by a chunk (never past `limit`) and returns the new free room; throws when full.
size_t grow(std::vector<uint8_t>& out, size_t used, size_t limit, std::string_view what, Compression format)
{
    if (used >= limit) {
        fail(what, format, fmt::format("more than {} bytes uncompressed", limit));
    }
    out.resize(std::min(limit, used + kChunk));
    return out.size() - used;
}

std::vector<uint8_t> xz(std::span<const uint8_t> data, std::string_view what, size_t limit)
{
    lzma_stream stream = LZMA_STREAM_INIT;
    // Memory limit for the decoder's dictionary: xz -9 needs 65 MiB; nothing sane needs more.
    if (lzma_stream_decoder(&stream, 128U << 20, LZMA_CONCATENATED) != LZMA_OK) {
        fail(what, Compression::Xz, "liblzma cannot start a decoder");
    }
    const std::unique_ptr<lzma_stream, decltype(&lzma_end)> guard(&stream, lzma_end);
    std::vector<uint8_t> out;
    stream.next_in = data.data();
    stream.avail_in = data.size();
    size_t used = 0;
    for (;;) {
        stream.avail_out = grow(out, used, limit, what, Compression::Xz);
        stream.next_out = out.data() + used;
        const lzma_ret ret = lzma_code(&stream, LZMA_FINISH);
        used = out.size() - stream.avail_out;
        if (ret == LZMA_STREAM_END) {
            break;
        }
        if (ret != LZMA_OK) {
            fail(what, Compression::Xz, ret == LZMA_BUF_ERROR ? "truncated" : fmt::format("liblzma error {}", int(ret)));
        }
    }
    out.resize(used);
    return out;
}

std::vector<uint8_t> zstd(std::span<const uint8_t> data, std::string_view what, size_t limit)
{
    const std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> stream(ZSTD_createDStream(), ZSTD_freeDStream);
    if (!stream) {
        fail(what, Compression::Zstd, "libzstd cannot start a decoder");
    }
    ZSTD_DCtx_setParameter(stream.get(), ZSTD_d_windowLogMax, 27); // 128 MiB windows at most
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    std::vector<uint8_t> out;
    size_t used = 0;
    // ZSTD_decompressStream returns 0 once a frame is complete and flushed; the input may hold
    // several frames. Done when all input is read and the last frame is complete.
    for (;;) {
        const size_t room = grow(out, used, limit, what, Compression::Zstd);
        ZSTD_outBuffer buffer{out.data() + used, room, 0};
        const size_t hint = ZSTD_decompressStream(stream.get(), &buffer, &in);
        if (ZSTD_isError(hint)) {
            fail(what, Compression::Zstd, ZSTD_getErrorName(hint));
        }
        used += buffer.pos;
        if (in.pos == in.size && hint == 0) {
            break;
        }
        if (in.pos == in.size && buffer.pos < room) {
            fail(what, Compression::Zstd, "truncated"); // room left, no input, frame unfinished
        }
    }
    out.resize(used);
    return out;
}

std::vector<uint8_t> gzip(std::span<const uint8_t> data, std::string_view what, size_t limit)
{
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) { // 16: gzip wrapper
        fail(what, Compression::Gzip, "zlib cannot start a decoder");
    }
    const std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&stream, inflateEnd);
    std::vector<uint8_t> out;
    size_t used = 0;
    size_t consumed = 0;
    for (;;) {
        const size_t room = grow(out, used, limit, what, Compression::Gzip);
        // zlib's counts are 32-bit: feed at most 1 GiB at a time.
        const size_t in_now = std::min<size_t>(data.size() - consumed, 1U << 30);
        stream.next_in = data.data() + consumed;
        stream.avail_in = static_cast<uInt>(in_now);
        stream.next_out = out.data() + used;
        stream.avail_out = static_cast<uInt>(std::min<size_t>(room, 1U << 30));
        const uInt out_before = stream.avail_out;
        const int ret = inflate(&stream, Z_NO_FLUSH);
        consumed += in_now - stream.avail_in;
        used += out_before - stream.avail_out;
        if (ret == Z_STREAM_END) {
            break;
        }
        if (ret != Z_OK && !(ret == Z_BUF_ERROR && stream.avail_out == 0)) {
            fail(what, Compression::Gzip, ret == Z_BUF_ERROR ? "truncated" : fmt::format("zlib error {}", ret));
        }
    }
    out.resize(used);
    return out;
}

} // namespace

Compression detect_compression(std::span<const uint8_t> data)
{
    if (starts_with(data, kXzMagic)) {
        return Compression::Xz;
    }
    if (starts_with(data, kZstdMagic)) {
        return Compression::Zstd;
    }
    if (starts_with(data, kGzipMagic)) {
        return Compression::Gzip;
    }
    return Compression::None;
}

std::string_view to_string(Compression compression)
{
    switch (compression) {
    case Compression::None:
        return "none";
    case Compression::Gzip:
        return "gzip";
    case Compression::Xz:
        return "xz";
    case Compression::Zstd:
        return "zstd";
    }
    return "unknown";
}

std::vector<uint8_t> decompress(std::span<const uint8_t> data, std::string_view what, size_t limit)
{
    switch (detect_compression(data)) {
    case Compression::None:
        return {data.begin(), data.end()};
    case Compression::Gzip:
        return gzip(data, what, limit);
    case Compression::Xz:
        return xz(data, what, limit);
    case Compression::Zstd:
        return zstd(data, what, limit);
    }
    return {data.begin(), data.end()};
}

} // namespace minivmm::initramfs
