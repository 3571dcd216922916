// libfmt's compiled part, built from the system's own <fmt/...> headers so that the minivmm
// executable can link it statically (Debian's libfmt-dev ships only libfmt.so). This is what
// FMT_HEADER_ONLY would put in every translation unit, compiled once: format-inl.h holds the
// definitions, and the explicit instantiations below are the ones <fmt/format.h> declares
// `extern template` or uses from the library. ABI: same headers, same version as the
// libfmt.so that libminivmm.a's other users link; see MINIVMM_STATIC_EXE in CMakeLists.txt.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view, basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                                 locale_ref);

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
template FMT_API void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);

} // namespace detail
FMT_END_NAMESPACE
