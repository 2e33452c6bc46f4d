// Kernel entry. The firmware (Pi 4) or QEMU jumps here with the MMU off:
//   x0 = physical address of the device tree blob, or 0 when none was passed.
// We may arrive at EL2 (Pi 4 firmware, QEMU raspi4b, virt with
// virtualization=on) or EL1 (plain virt). EL2 is left for EL1 at once.
// Constants come from boot.rs as `const` operands (BOOT_*).

// _start must be the first byte of the image: loaders jump to the load address.
.section .text.entry, "ax"
.global _start
_start:
    mov     x19, x0                     // DTB pointer, kept across set-up
    mrs     x20, CurrentEL
    lsr     x20, x20, #2                // entry exception level, for the boot log
    mov     x21, #0                     // the boot core (1: a secondary)

    // Only the boot core comes in here; another that does (a loader that
    // starts them all at once) waits. Secondaries enter at
    // _secondary_start when the kernel starts them (arch::smp).
    mrs     x1, mpidr_el1
    and     x1, x1, #0xff
    cbnz    x1, .Lpark
    b       .Lleave_el2

// A secondary core, started by arch::smp (PSCI CPU_ON or the spin table):
// MMU off, at EL2 or EL1. It shares the boot core's way down to EL1 and
// its early tables (built already, .bss not cleared again), then runs on
// its own stack slot (MPIDR.Aff0) and enters `secondary_entry`.
.global _secondary_start
_secondary_start:
    mrs     x20, CurrentEL
    lsr     x20, x20, #2
    mov     x21, #1
    mrs     x1, mpidr_el1
    ldr     x2, =0xff00ffff00           // Aff3..Aff1: stack slots are by Aff0 alone
    tst     x1, x2
    b.ne    .Lpark
    and     x1, x1, #0xff
    cmp     x1, #{MAX_CPUS}
    b.hs    .Lpark

.Lleave_el2:
    cmp     x20, #2
    b.eq    .Lfrom_el2
    cmp     x20, #1
    b.eq    .Lat_el1
    b       .Lpark                      // EL3 entry is not supported

.Lfrom_el2:
    mrs     x1, midr_el1
    msr     vpidr_el2, x1
    mrs     x1, mpidr_el1
    msr     vmpidr_el2, x1
    mov     x1, #(1 << 31)              // HCR_EL2.RW: EL1 runs AArch64, no traps
    msr     hcr_el2, x1
    mov     x1, #3                      // CNTHCTL_EL2.EL1PCTEN|EL1PCEN: EL1 owns the timers
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    mov     x1, #0x33ff                 // CPTR_EL2: RES1 bits only, FP/SIMD not trapped
    msr     cptr_el2, x1
    msr     hstr_el2, xzr
    mrs     x1, pmcr_el0
    ubfx    x1, x1, #11, #5             // PMCR_EL0.N: number of event counters
    msr     mdcr_el2, x1                // MDCR_EL2.HPMN = N, no PMU/debug traps
    mrs     x1, id_aa64pfr0_el1
    ubfx    x1, x1, #24, #4             // GIC system-register interface present?
    cbz     x1, 1f
    mrs     x1, S3_4_C12_C9_5           // ICC_SRE_EL2
    orr     x1, x1, #0x1                // SRE
    orr     x1, x1, #0x8                // Enable: EL1 may use the ICC_* registers
    msr     S3_4_C12_C9_5, x1
    isb
1:  ldr     x1, ={SCTLR_EL1_BOOT}
    msr     sctlr_el1, x1
    mov     x1, #0x3c5                  // EL1h, D/A/I/F masked
    msr     spsr_el2, x1
    adr     x1, .Lat_el1
    msr     elr_el2, x1
    eret

.Lat_el1:
    ldr     x1, ={SCTLR_EL1_BOOT}       // MMU and caches off, known state
    msr     sctlr_el1, x1
    mov     x1, #(3 << 20)              // CPACR_EL1.FPEN: compiled Rust uses FP/SIMD
    msr     cpacr_el1, x1
    isb
    // A secondary skips what the boot core did for all: .bss, the early
    // tables and the invalidation of their lines (which would discard the
    // boot core's writes). Its own instruction cache may be stale.
    cbz     x21, .Lboot_core_setup
    ic      iallu
    dsb     nsh
    isb
    b       .Lmmu_on
.Lboot_core_setup:

    // Zero .bss (physical addresses: adrp is PC-relative and we run at the
    // load address). The boot stacks and early tables live in .bss.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b
3:
    // Early tables: one L0 and one L1 shared by TTBR0 (identity) and TTBR1
    // (virt = phys + 0xffff_0000_0000_0000). L1 maps the low 4 GiB in 1 GiB
    // blocks: Device for the GiBs holding the board's MMIO, Normal for the rest.
    // The kernel replaces these tables as soon as it runs in the upper half.
    adrp    x1, __early_l0
    adrp    x2, __early_l1
    orr     x3, x2, #3                  // table descriptor
    str     x3, [x1]
    mov     x5, #0
4:  lsl     x6, x5, #30
    mov     x7, #{BOOT_DEVICE_GIB_MASK}
    lsr     x7, x7, x5
    tbnz    x7, #0, 5f
    ldr     x8, ={BOOT_NORMAL_BLOCK}
    b       6f
5:  ldr     x8, ={BOOT_DEVICE_BLOCK}
6:  orr     x6, x6, x8
    str     x6, [x2, x5, lsl #3]
    add     x5, x5, #1
    cmp     x5, #4
    b.lo    4b

    // With the MMU and caches off these writes went straight to memory.
    // Invalidate .bss (early tables and stacks included) from the data
    // caches and the whole instruction cache, so no stale line left by the
    // firmware is hit once caching is on (QEMU does not model caches; real
    // hardware may).
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4             // CTR_EL0.DminLine: log2(words per line)
    mov     x4, #4
    lsl     x3, x4, x3                  // line size in bytes
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
    sub     x4, x3, #1
    bic     x1, x1, x4
7:  dc      ivac, x1
    add     x1, x1, x3
    cmp     x1, x2
    b.lo    7b
    dsb     sy
    ic      iallu
    dsb     nsh
    isb

.Lmmu_on:
    ldr     x1, ={BOOT_MAIR}
    msr     mair_el1, x1
    ldr     x1, ={BOOT_TCR}
    mrs     x2, id_aa64mmfr0_el1
    ubfx    x2, x2, #0, #4              // PARange -> TCR_EL1.IPS
    cmp     x2, #5                      // IPS above 48 bits needs 52-bit descriptors
    mov     x3, #5
    csel    x2, x2, x3, ls
    bfi     x1, x2, #32, #3
    msr     tcr_el1, x1
    adrp    x1, __early_l0
    msr     ttbr0_el1, x1
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x1, ={SCTLR_EL1_MMU}
    msr     sctlr_el1, x1
    isb

    // This core's stack (the top of its slot, MPIDR.Aff0), then jump to
    // the upper half.
    mrs     x3, mpidr_el1
    and     x3, x3, #0xff
    adrp    x1, __boot_stacks
    add     x1, x1, :lo12:__boot_stacks
    ldr     x2, ={STACK_SLOT}
    madd    x1, x3, x2, x1
    add     x1, x1, x2
    ldr     x2, ={KERNEL_VIRT_OFFSET}
    add     sp, x1, x2
    cbnz    x21, 8f
    mov     x0, x19
    mov     x1, x20
    ldr     x2, =kernel_entry
    br      x2
8:  mov     x0, x3
    mov     x1, x20
    ldr     x2, =secondary_entry
    br      x2

.Lpark:
    wfe
    b       .Lpark

.section .bss.boot, "aw", @nobits
.balign 4096
.global __early_l0
__early_l0:
    .space 4096
__early_l1:
    .space 4096
// Per-CPU slots: [guard (unmapped by the kernel tables) | stack], each slot
// aligned to its size so the vectors can check SP with one bit test.
.balign {STACK_SLOT}
.global __boot_stacks
__boot_stacks:
    .space {BOOT_STACKS_TOTAL}
.balign 16
.global __overflow_stack_top
__overflow_stack:
    .space {OVERFLOW_STACK_SIZE}
__overflow_stack_top:
