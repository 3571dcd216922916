// zlib and zstd decompression of one cluster (QEMU block/qcow2-threads.c semantics: zlib
// stream ends or runs out of output exactly at the cluster's end; zstd may hold several
// frames and must produce exactly the cluster).
#include "backends/block/qcow2/decompress.hpp"

#include "memory/byte_span.hpp"

#include <zlib.h>
#include <zstd.h>

#include <climits>
#include <memory>

namespace minivmm::backends::qcow2 {

namespace {

bool inflate_raw(std::span<const std::byte> in, std::span<std::byte> out)
{
    if (in.size() > UINT_MAX || out.size() > UINT_MAX) {
        return false;
    }
    z_stream s{};
    if (inflateInit2(&s, -12) != Z_OK) {
        return false;
    }
    // zlib's next_in is not const-qualified; inflate() only reads it.
    s.next_in = const_cast<Bytef*>(memory::as_u8(in).data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = memory::as_writable_u8(out).data();
    s.avail_out = static_cast<uInt>(out.size());
    const int r = inflate(&s, Z_FINISH);
    const bool ok = (r == Z_STREAM_END || r == Z_BUF_ERROR) && s.avail_out == 0;
    inflateEnd(&s);
    return ok;
}

// One decompression context per thread, reset for each cluster: making one costs more than
// decompressing a 64 KiB cluster (it allocates and clears ~100 KiB of tables).
ZSTD_DCtx* zstd_context()
{
    thread_local const std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
    if (ctx && ZSTD_isError(ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_only)) != 0) {
        return nullptr;
    }
    return ctx.get();
}

bool zstd_frames(std::span<const std::byte> in, std::span<std::byte> out)
{
    ZSTD_DCtx* const ctx = zstd_context();
    if (ctx == nullptr) {
        return false;
    }
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    ZSTD_outBuffer output{out.data(), out.size(), 0};
    while (output.pos < output.size) {
        const std::size_t in_before = input.pos;
        const std::size_t out_before = output.pos;
        const std::size_t r = ZSTD_decompressStream(ctx, &output, &input);
        if (ZSTD_isError(r) != 0) {
            return false;
        }
        if (input.pos == in_before && output.pos == out_before) {
            return false; // no progress: the input ended before the cluster did
        }
    }
    return true;
}

} // namespace

bool decompress_cluster(CompressionType type, std::span<const std::byte> in, std::span<std::byte> out)
{
    return type == CompressionType::Zstd ? zstd_frames(in, out) : inflate_raw(in, out);
}

} // namespace minivmm::backends::qcow2
