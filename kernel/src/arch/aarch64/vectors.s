// Exception vector table (VBAR_EL1) and the common save/restore path.
// Each entry saves x0/x1, puts its kind (0..15: group * 4 + type) in x1 and
// branches to the common code, which saves the whole context as a TrapFrame
// (see exception.rs for the layout) and calls exception_dispatch(frame, kind).
// FP/SIMD registers and TPIDR_EL0 are not touched: the kernel never uses
// them (it is built soft-float), so they keep the thread's values; they are
// switched with the thread (thread_regs.rs).
//
// Two kinds of context are interrupted:
// - a thread (EL0, or a CPU's idle thread at EL1 on SP_EL0): SP_EL1 was set
//   to the end of that thread's TrapFrame when it was entered, so its context
//   is saved straight into its thread object; the handler then runs on this
//   CPU's kernel stack (its top is kept in TPIDR_EL1), which is empty;
// - the kernel itself (EL1 on SP_EL1): the frame goes on the kernel stack.
// exception_dispatch returns the frame to resume: the same one, or another
// thread's after a switch. Restoring it leaves SP_EL1 at its end again.

.macro VECTOR_THREAD kind
    .balign 0x80
    sub     sp, sp, #{FRAME_SIZE}
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       __thread_exception
.endm

// For exceptions taken on the kernel stack: before storing anything, check
// that SP is still inside its stack (bit STACK_SHIFT set, see boot.rs). No
// register is free yet, so SP and x0 are swapped arithmetically (as Linux
// does): sp = sp + x0, x0 = sp - x0 (old sp), test, then undo.
.macro VECTOR_KSTACK kind
    .balign 0x80
    sub     sp, sp, #{FRAME_SIZE}
    add     sp, sp, x0
    sub     x0, sp, x0
    tbz     x0, #{STACK_SHIFT}, __stack_overflow
    sub     x0, sp, x0
    sub     sp, sp, x0
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       __exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global __exception_vectors
__exception_vectors:
    VECTOR_THREAD 0    // current EL, SP_EL0 (idle thread): synchronous
    VECTOR_THREAD 1    //                     IRQ
    VECTOR_THREAD 2    //                     FIQ
    VECTOR_THREAD 3    //                     SError
    VECTOR_KSTACK 4    // current EL, SP_ELx: synchronous
    VECTOR_KSTACK 5
    VECTOR_KSTACK 6
    VECTOR_KSTACK 7
    VECTOR_THREAD 8    // lower EL, AArch64: synchronous
    VECTOR_THREAD 9
    VECTOR_THREAD 10
    VECTOR_THREAD 11
    VECTOR_THREAD 12   // lower EL, AArch32: synchronous
    VECTOR_THREAD 13
    VECTOR_THREAD 14
    VECTOR_THREAD 15

// SP ran into the guard below a kernel stack. x0 holds that SP; the
// interrupted x0 is lost. Report from a stack of its own; never returns.
__stack_overflow:
    adrp    x1, __overflow_stack_top
    add     x1, x1, :lo12:__overflow_stack_top
    mov     sp, x1
    bl      kernel_stack_overflow
    b       .

.macro SAVE_REST
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x2, sp_el0
    stp     x30, x2, [sp, #16 * 15]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #256]
.endm

__thread_exception:
    SAVE_REST
    mov     x0, sp
    mrs     x2, tpidr_el1
    mov     sp, x2
    bl      exception_dispatch
    b       __restore_frame

__exception_common:
    SAVE_REST
    mov     x0, sp
    bl      exception_dispatch
    // fall through: x0 = the frame to resume

// Resume the context saved in the TrapFrame at x0. Never returns.
.global __restore_frame
__restore_frame:
    mov     sp, x0
    ldp     x2, x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x30, x2, [sp, #16 * 15]
    msr     sp_el0, x2
    ldp     x28, x29, [sp, #16 * 14]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x0, x1, [sp, #16 * 0]
    add     sp, sp, #{FRAME_SIZE}
    eret

// Switch TTBR1_EL1 with break-before-make. Runs from the identity map (the
// caller branches to its physical address), so no TLB entry for the code it
// executes is affected. x0 = new TTBR1 value, x1 = physical address of an
// empty table. Uses no stack.
.section .text.boot, "ax"
.global __switch_ttbr1
__switch_ttbr1:
    dsb     ishst
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ret

.section .bss.boot, "aw", @nobits
.balign 4096
.global __empty_table
__empty_table:
    .space 4096
