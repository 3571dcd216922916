// FADT, "Fixed ACPI Description Table" (ACPI 6.5 section 5.2.9, Table 5.9), revision 6.5,
// for a hardware-reduced platform (section 4.1): HW_REDUCED_ACPI set, so the legacy PM1,
// PM2, PM timer and GPE blocks, SMI_CMD and the FACS are all absent (zero). Sleep (S5) goes
// through SLEEP_CONTROL_REG/SLEEP_STATUS_REG (4.8.3.7) and reset through RESET_REG
// (4.8.3.6), all in the AcpiPm port block.
#include "acpi/acpi_tables.hpp"

#include "arch/x86_64/layout.hpp"

namespace minivmm::acpi {

namespace {

#pragma pack(push, 1)
struct Fadt {
    SdtHeader header;
    uint32_t firmware_ctrl;
    uint32_t dsdt;
    uint8_t reserved0;
    uint8_t preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable;
    uint8_t acpi_disable;
    uint8_t s4bios_req;
    uint8_t pstate_cnt;
    uint32_t pm1a_evt_blk;
    uint32_t pm1b_evt_blk;
    uint32_t pm1a_cnt_blk;
    uint32_t pm1b_cnt_blk;
    uint32_t pm2_cnt_blk;
    uint32_t pm_tmr_blk;
    uint32_t gpe0_blk;
    uint32_t gpe1_blk;
    uint8_t pm1_evt_len;
    uint8_t pm1_cnt_len;
    uint8_t pm2_cnt_len;
    uint8_t pm_tmr_len;
    uint8_t gpe0_blk_len;
    uint8_t gpe1_blk_len;
    uint8_t gpe1_base;
    uint8_t cst_cnt;
    uint16_t p_lvl2_lat;
    uint16_t p_lvl3_lat;
    uint16_t flush_size;
    uint16_t flush_stride;
    uint8_t duty_offset;
    uint8_t duty_width;
    uint8_t day_alrm;
    uint8_t mon_alrm;
    uint8_t century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    GenericAddress reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t fadt_minor_version;
    uint64_t x_firmware_ctrl;
    uint64_t x_dsdt;
    GenericAddress x_pm1a_evt_blk;
    GenericAddress x_pm1b_evt_blk;
    GenericAddress x_pm1a_cnt_blk;
    GenericAddress x_pm1b_cnt_blk;
    GenericAddress x_pm2_cnt_blk;
    GenericAddress x_pm_tmr_blk;
    GenericAddress x_gpe0_blk;
    GenericAddress x_gpe1_blk;
    GenericAddress sleep_control_reg;
    GenericAddress sleep_status_reg;
    uint64_t hypervisor_vendor_identity;
};
#pragma pack(pop)
static_assert(sizeof(Fadt) == kFadtSize);
static_assert(offsetof(Fadt, iapc_boot_arch) == 109);
static_assert(offsetof(Fadt, flags) == 112);
static_assert(offsetof(Fadt, reset_reg) == 116);
static_assert(offsetof(Fadt, x_dsdt) == 140);
static_assert(offsetof(Fadt, sleep_control_reg) == 244);
static_assert(offsetof(Fadt, hypervisor_vendor_identity) == 268);

// Table 5.10 "Fixed ACPI Description Table Fixed Feature Flags".
constexpr uint32_t kFlagPowerButton = 1u << 4;  // no fixed-feature power button
constexpr uint32_t kFlagSleepButton = 1u << 5;  // no fixed-feature sleep button
constexpr uint32_t kFlagResetRegSup = 1u << 10; // RESET_REG works
constexpr uint32_t kFlagHwReducedAcpi = 1u << 20;

// 5.2.9.3 Table 5.11 "IA-PC Boot Architecture Flags". Left clear: LEGACY_DEVICES (bit 0),
// 8042 (bit 1: our i8042 only has the reset line, so Linux must not probe it) and
// CMOS RTC Not Present (bit 5: there is a real CMOS RTC at 0x70).
constexpr uint16_t kBootVgaNotPresent = 1u << 2;
constexpr uint16_t kBootMsiNotSupported = 1u << 3; // there is no PCI

// The CMOS RTC's century byte (devices/cmos_rtc.hpp, Register::Century).
constexpr uint8_t kRtcCenturyIndex = 0x32;

} // namespace

Table build_fadt(uint64_t dsdt_address)
{
    Fadt fadt{};
    fadt.header = make_header("FACP", kFadtRevision);
    fadt.sci_int = static_cast<uint16_t>(arch::kAcpiSciGsi);
    fadt.century = kRtcCenturyIndex;
    fadt.iapc_boot_arch = kBootVgaNotPresent | kBootMsiNotSupported;
    fadt.flags = kFlagPowerButton | kFlagSleepButton | kFlagResetRegSup | kFlagHwReducedAcpi;
    fadt.reset_reg = io_port_register(arch::kAcpiResetPort);
    fadt.reset_value = arch::kAcpiResetValue;
    fadt.fadt_minor_version = kFadtMinorRevision;
    // Only the 64-bit DSDT pointer: OSPM ignores the 32-bit one when X_DSDT is set.
    fadt.x_dsdt = dsdt_address;
    fadt.sleep_control_reg = io_port_register(arch::kAcpiSleepControlPort);
    fadt.sleep_status_reg = io_port_register(arch::kAcpiSleepStatusPort);
    const auto vendor_text = fixed_text<8>("MINIVMM");
    uint64_t vendor = 0;
    std::memcpy(&vendor, vendor_text.data(), sizeof(vendor));
    fadt.hypervisor_vendor_identity = vendor;

    Table table;
    append(table, fadt);
    finish_table(table);
    return table;
}

} // namespace minivmm::acpi
