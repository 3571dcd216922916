#include "loader/bzimage.hpp"

#include "loader/cmdline.hpp"
#include "loader/e820.hpp"
#include "loader/image_bytes.hpp"
#include "loader/initrd.hpp"
#include "loader/sizes.hpp"
#include "arch/x86_64/layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <string>

namespace minivmm::loader {

namespace {

constexpr uint64_t kSectorSize = 512;
constexpr uint8_t kDefaultSetupSects = 4; // boot.rst: "If this field is 0, the real value is 4."
constexpr uint64_t kJumpOffset = 0x200;   // the 2-byte jump; its displacement byte ends the header
constexpr uint64_t kHeaderBase = 0x202;   // the jump's target is relative to here
constexpr uint16_t kProtocol210 = 0x020a; // pref_address and init_size appear

std::string protocol_name(uint16_t version) { return fmt::format("{}.{:02}", version >> 8, version & 0xff); }

// The end (exclusive, image offset) of the header fields minivmm reads for this protocol.
uint64_t fields_end(uint16_t version)
{
    if (version >= kProtocol210) {
        return kSetupHeaderOffset + offsetof(SetupHeader, init_size) + sizeof(uint32_t);
    }
    return kSetupHeaderOffset + offsetof(SetupHeader, cmdline_size) + sizeof(uint32_t);
}

} // namespace

BzImage parse_bzimage(std::span<const std::byte> head, uint64_t image_size)
{
    if (head.size() > image_size || (head.size() < image_size && head.size() < kBzImageMaxSetupSize)) {
        throw HostError(fmt::format("parse_bzimage: {} bytes of a {}-byte image are too few to parse", head.size(),
                                    image_size));
    }
    const std::span<const std::byte> image = head; // what the checks below may read
    const auto header = read_struct<SetupHeader>(image, kSetupHeaderOffset);
    if (!header) {
        throw ConfigError(fmt::format("kernel image truncated: setup header needs {} bytes, file has {}",
                                      kSetupHeaderEnd, image_size));
    }
    // Fields are copied into locals: the header is packed, and fmt and std::max take references.
    const uint16_t boot_flag = header->boot_flag;
    const uint16_t version = header->version;
    if (boot_flag != kBootFlag) {
        throw ConfigError(fmt::format("not a Linux kernel: no boot flag 0xaa55 at offset 0x1fe (found {:#06x})",
                                      boot_flag));
    }
    if (header->header != kHdrSMagic) {
        throw ConfigError("not a Linux kernel: no HdrS signature at offset 0x202");
    }
    if (version < kMinBootProtocol) {
        throw ConfigError(fmt::format("kernel boot protocol {} is too old: minivmm needs {} or newer",
                                      protocol_name(version), protocol_name(kMinBootProtocol)));
    }

    // The header ends where the jump at 0x200 lands (boot.rst "The Real-Mode Kernel Header").
    const uint64_t header_end = kHeaderBase + std::to_integer<uint64_t>(image[kJumpOffset + 1]);
    if (header_end < fields_end(version)) {
        throw ConfigError(fmt::format("kernel setup header ends at {:#x}, but boot protocol {} needs it up to {:#x}",
                                      header_end, protocol_name(version), fields_end(version)));
    }

    const uint64_t setup_sects = header->setup_sects == 0 ? kDefaultSetupSects : header->setup_sects;
    const uint64_t setup_size = (setup_sects + 1) * kSectorSize;
    if (setup_size >= image_size) {
        throw ConfigError(fmt::format("kernel image truncated: setup code needs {} bytes (setup_sects {}), file has {}",
                                      setup_size, setup_sects, image_size));
    }
    if (header_end > setup_size) {
        throw ConfigError(fmt::format("kernel setup header (to {:#x}) runs past the setup code ({:#x} bytes)",
                                      header_end, setup_size));
    }
    const uint64_t payload_size = image_size - setup_size;
    // syssize counts 16-byte paragraphs of the protected-mode kernel.
    const uint64_t sys_bytes = uint64_t{header->syssize} * 16;
    if (sys_bytes > payload_size) {
        throw ConfigError(fmt::format("kernel image truncated: protected-mode kernel needs {} bytes (syssize), file has {}",
                                      sys_bytes, payload_size));
    }

    BzImage result;
    result.version = version;
    result.loadflags = header->loadflags;
    result.xloadflags = header->xloadflags;
    result.cmdline_size = header->cmdline_size;
    result.initrd_addr_max = header->initrd_addr_max;
    result.kernel_alignment = header->kernel_alignment;
    result.relocatable = header->relocatable_kernel != 0;
    if (version >= kProtocol210) {
        result.pref_address = header->pref_address;
        result.init_size = header->init_size;
    }
    if ((result.loadflags & kLoadedHigh) == 0) {
        throw ConfigError("kernel is a zImage (loadflags LOADED_HIGH unset): only bzImage kernels are supported");
    }
    if ((result.xloadflags & kXlfKernel64) == 0) {
        throw ConfigError("kernel has no 64-bit entry point (xloadflags XLF_KERNEL_64 unset): build it for x86-64");
    }
    if (result.relocatable && !std::has_single_bit(result.kernel_alignment)) {
        throw ConfigError(fmt::format("kernel_alignment {:#x} of a relocatable kernel is not a power of two",
                                      result.kernel_alignment));
    }
    result.header_bytes = image.subspan(kSetupHeaderOffset, std::min<uint64_t>(header_end, kSetupHeaderLimit) -
                                                                kSetupHeaderOffset);
    result.setup_size = setup_size;
    result.payload_size = payload_size;
    return result;
}

memory::GuestAddress bzimage_kernel_end(const BzImage& image)
{
    const uint64_t load = arch::kKernelStart;
    uint64_t image_end = 0;
    if (__builtin_add_overflow(load, image.payload_size, &image_end)) {
        throw ConfigError(fmt::format("kernel payload of {:#x} bytes does not fit above 1 MiB", image.payload_size));
    }
    if (image.version < kProtocol210) {
        return memory::GuestAddress(image_end);
    }
    // Where the kernel runs (arch/x86/boot/compressed/head_64.S): a relocatable kernel at the
    // load address aligned up to kernel_alignment, but never below pref_address
    // (LOAD_PHYSICAL_ADDR); a fixed kernel at pref_address.
    uint64_t run = image.pref_address;
    if (image.relocatable) {
        const uint64_t align = image.kernel_alignment;
        run = std::max((load + align - 1) & ~(align - 1), image.pref_address);
    }
    uint64_t run_end = 0;
    if (__builtin_add_overflow(run, uint64_t{image.init_size}, &run_end)) {
        throw ConfigError(fmt::format("kernel pref_address {:#x} + init_size {:#x} overflows", run, image.init_size));
    }
    return memory::GuestAddress(std::max(image_end, run_end));
}

LoadedKernel load_bzimage(memory::GuestMemory& memory, const BootSpec& spec)
{
    const std::vector<std::byte> head = spec.kernel.read_prefix(kBzImageMaxSetupSize);
    const BzImage image = parse_bzimage(head, spec.kernel.size());
    const memory::GuestAddress kernel_end = bzimage_kernel_end(image);
    const uint64_t ram_end = low_ram_end(memory);
    if (kernel_end.value() > ram_end) {
        throw ConfigError(fmt::format("kernel needs guest RAM up to {:#x} ({:.1f} MiB, image plus init_size), "
                                      "guest has {:.1f} MiB below the MMIO hole: give the guest more memory",
                                      kernel_end.value(), mib(kernel_end.value()), mib(ram_end)));
    }
    // Straight from the image to its place (for a file: one read into guest RAM).
    spec.kernel.read_at(image.setup_size, memory.slice(memory::GuestAddress(arch::kKernelStart), image.payload_size));

    // boot.rst "Details of Header Fields" and zero-page.rst: a zeroed page, the header copied in.
    BootParams params{};
    const auto param_bytes = std::as_writable_bytes(std::span(&params, 1));
    std::copy(image.header_bytes.begin(), image.header_bytes.end(), param_bytes.begin() + kSetupHeaderOffset);
    SetupHeader& hdr = params.hdr;
    hdr.type_of_loader = kTypeOfLoaderUndefined;
    hdr.loadflags = static_cast<uint8_t>(hdr.loadflags | kCanUseHeap);
    hdr.heap_end_ptr = kHeapEndPtr;
    hdr.vid_mode = kVidModeNormal;

    const memory::GuestAddress cmdline = write_cmdline(memory, spec.cmdline, image.cmdline_size);
    hdr.cmd_line_ptr = static_cast<uint32_t>(cmdline.value());
    params.ext_cmd_line_ptr = static_cast<uint32_t>(cmdline.value() >> 32);

    const std::vector<E820Entry> e820 = build_e820_map(memory.regions());
    if (e820.size() > kE820Max) {
        throw ConfigError(fmt::format("e820 map has {} entries; boot_params holds {}", e820.size(), kE820Max));
    }
    std::copy(e820.begin(), e820.end(), params.e820_table);
    params.e820_entries = static_cast<uint8_t>(e820.size());

    LoadedKernel loaded;
    loaded.format = KernelFormat::BzImage;
    loaded.entry = memory::GuestAddress(arch::kKernelStart + kBzImage64BitEntryOffset);
    loaded.boot_info = memory::GuestAddress(arch::kBootParams);
    loaded.kernel_end = kernel_end;
    if (!spec.initrd.empty()) {
        const InitrdLocation initrd = load_initrd(memory, spec.initrd, kernel_end, image.initrd_addr_max);
        hdr.ramdisk_image = static_cast<uint32_t>(initrd.address.value());
        hdr.ramdisk_size = static_cast<uint32_t>(initrd.size);
        params.ext_ramdisk_image = static_cast<uint32_t>(initrd.address.value() >> 32);
        params.ext_ramdisk_size = static_cast<uint32_t>(initrd.size >> 32);
        loaded.initrd = initrd;
    }
    if (spec.rsdp) {
        params.acpi_rsdp_addr = spec.rsdp->value();
    }
    memory.write_obj(memory::GuestAddress(arch::kBootParams), params);
    return loaded;
}

} // namespace minivmm::loader
