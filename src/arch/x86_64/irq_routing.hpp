// The interrupt routing of the PC platform minivmm presents: which in-kernel irqchip pins
// each GSI drives. Pure, so it is unit-tested without KVM.
#pragma once

#include <linux/kvm.h>

#include <vector>

namespace minivmm::arch {

// As on a PC with an IOAPIC (and as QEMU sets it up): ISA IRQs 0-15 go to the 8259 pair
// (IRQ 2 is the cascade, so nothing is routed to it), GSIs 0-23 to the IOAPIC pin of the
// same number, except that the PIT's IRQ 0 arrives at IOAPIC pin 2 — what the MP table's
// and the MADT's "ISA IRQ 0 -> GSI 2" override tell the guest. KVM's default table sends
// GSI 0 to IOAPIC pin 0, which would contradict both.
[[nodiscard]] std::vector<kvm_irq_routing_entry> pc_gsi_routing();

} // namespace minivmm::arch
