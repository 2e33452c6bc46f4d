// memcpy(dst, src, n) -> dst and memset (below): the kernel's, in place
// of the generic ones (which move 8 bytes per loop turn of four
// instructions when aligned, and byte by byte otherwise). Only aligned
// loads and stores,
// as the kernel's target requires (it also runs with the MMU off, where
// all memory is Device memory):
// - up to 64 bytes with both ends 4-aligned (a struct's move): 32-byte
//   blocks, then 16, 8, 4, 2, 1 as the length's bits say, in pairs of
//   doublewords (co-aligned to 8) or of words;
// - ends co-aligned to 8: bytes up to alignment, then 64 bytes a turn in
//   load and store pairs, then 16, 8, and the last bytes one by one;
// - otherwise: bytes until the destination is aligned, then each aligned
//   word of the destination is made of two aligned words of the source,
//   shifted (both inside the source's own aligned words, so no access
//   leaves its pages), then the last bytes.
// Uses only caller-saved registers x0..x12 (x18 is left alone). For
// memory only, never device registers: a misaligned copy reads the rest of
// the source's first and last aligned words.
.section .text.memops, "ax"
.global memcpy
.type memcpy, %function
.balign 16
memcpy:
    mov     x3, x0
    // Up to 64 bytes with both ends 4-aligned (most struct moves): no
    // loop but one of 32-byte blocks, the rest by the bits of the length.
    cmp     x2, #64
    b.hi    .Llarge
    orr     x4, x0, x1
    tst     x4, #3
    b.ne    .Llarge
    eor     x4, x0, x1
    tst     x4, #7
    b.ne    .Lsmall_w
    // Co-aligned to 8; both 4 past it: one word first.
    tbz     x3, #2, .Lsmall_x
    cmp     x2, #4
    b.lo    .Lsmall_tail
    ldr     w4, [x1], #4
    str     w4, [x3], #4
    sub     x2, x2, #4
.Lsmall_x:
    lsr     x12, x2, #5
    cbz     x12, 2f
1:  ldp     x4, x5, [x1]
    ldp     x6, x7, [x1, #16]
    add     x1, x1, #32
    stp     x4, x5, [x3]
    stp     x6, x7, [x3, #16]
    add     x3, x3, #32
    subs    x12, x12, #1
    b.ne    1b
2:  tbz     x2, #4, 3f
    ldp     x4, x5, [x1], #16
    stp     x4, x5, [x3], #16
3:  tbz     x2, #3, .Lsmall_tail
    ldr     x4, [x1], #8
    str     x4, [x3], #8
    b       .Lsmall_tail
.Lsmall_w:
    // 4-aligned but 4 apart modulo 8: pairs of words.
    lsr     x12, x2, #5
    cbz     x12, 2f
1:  ldp     w4, w5, [x1]
    ldp     w6, w7, [x1, #8]
    ldp     w8, w9, [x1, #16]
    ldp     w10, w11, [x1, #24]
    add     x1, x1, #32
    stp     w4, w5, [x3]
    stp     w6, w7, [x3, #8]
    stp     w8, w9, [x3, #16]
    stp     w10, w11, [x3, #24]
    add     x3, x3, #32
    subs    x12, x12, #1
    b.ne    1b
2:  tbz     x2, #4, 3f
    ldp     w4, w5, [x1]
    ldp     w6, w7, [x1, #8]
    add     x1, x1, #16
    stp     w4, w5, [x3]
    stp     w6, w7, [x3, #8]
    add     x3, x3, #16
3:  tbz     x2, #3, .Lsmall_tail
    ldp     w4, w5, [x1], #8
    stp     w4, w5, [x3], #8
.Lsmall_tail:
    // Both 4-aligned here: a word, a halfword, a byte, as the length says.
    tbz     x2, #2, 1f
    ldr     w4, [x1], #4
    str     w4, [x3], #4
1:  tbz     x2, #1, 2f
    ldrh    w4, [x1], #2
    strh    w4, [x3], #2
2:  tbz     x2, #0, 3f
    ldrb    w4, [x1]
    strb    w4, [x3]
3:  ret
.Llarge:
    eor     x4, x0, x1
    tst     x4, #7
    b.ne    .Lmisaligned
.Lhead:
    tst     x3, #7
    b.eq    .L64
    cbz     x2, .Ldone
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       .Lhead
.L64:
    lsr     x12, x2, #6
    cbz     x12, .L16
    and     x2, x2, #63
1:
    ldp     x4, x5, [x1]
    ldp     x6, x7, [x1, #16]
    ldp     x8, x9, [x1, #32]
    ldp     x10, x11, [x1, #48]
    stp     x4, x5, [x3]
    stp     x6, x7, [x3, #16]
    stp     x8, x9, [x3, #32]
    stp     x10, x11, [x3, #48]
    add     x1, x1, #64
    add     x3, x3, #64
    subs    x12, x12, #1
    b.ne    1b
.L16:
    cmp     x2, #16
    b.lo    .L8
    ldp     x4, x5, [x1], #16
    stp     x4, x5, [x3], #16
    sub     x2, x2, #16
    b       .L16
.L8:
    cmp     x2, #8
    b.lo    .Lbytes
    ldr     x4, [x1], #8
    str     x4, [x3], #8
    sub     x2, x2, #8
.Lbytes:
    cbz     x2, .Ldone
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    subs    x2, x2, #1
    b.ne    .Lbytes
.Ldone:
    ret
.Lmisaligned:
    cmp     x2, #16
    b.lo    .Lbytes
.Lalign_dst:
    tst     x3, #7
    b.eq    .Lshifted
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       .Lalign_dst
.Lshifted:
    // x1 is now k (1..7) bytes past an aligned word: x5 = 8k, x6 = 64 - 8k
    // (as a shift amount, taken modulo 64), x7 = that word's address.
    and     x5, x1, #7
    lsl     x5, x5, #3
    neg     x6, x5
    bic     x7, x1, #7
    ldr     x8, [x7], #8
.Lword:
    cmp     x2, #8
    b.lo    .Lbytes
    ldr     x9, [x7], #8
    lsr     x10, x8, x5
    lsl     x11, x9, x6
    orr     x10, x10, x11
    str     x10, [x3], #8
    mov     x8, x9
    add     x1, x1, #8
    sub     x2, x2, #8
    b       .Lword
.size memcpy, . - memcpy

// memset(dst, c, n) -> dst, in the same way: bytes up to 8-byte alignment,
// then the byte repeated in a word, 64 bytes a turn in store pairs, then
// 16, 8, and the last bytes one by one.
.global memset
.type memset, %function
.balign 16
memset:
    mov     x3, x0
    and     x1, x1, #0xff
    orr     x1, x1, x1, lsl #8
    orr     x1, x1, x1, lsl #16
    orr     x1, x1, x1, lsl #32
.Lset_head:
    tst     x3, #7
    b.eq    .Lset_64
    cbz     x2, .Lset_done
    strb    w1, [x3], #1
    sub     x2, x2, #1
    b       .Lset_head
.Lset_64:
    lsr     x12, x2, #6
    cbz     x12, .Lset_16
    and     x2, x2, #63
1:
    stp     x1, x1, [x3]
    stp     x1, x1, [x3, #16]
    stp     x1, x1, [x3, #32]
    stp     x1, x1, [x3, #48]
    add     x3, x3, #64
    subs    x12, x12, #1
    b.ne    1b
.Lset_16:
    cmp     x2, #16
    b.lo    .Lset_8
    stp     x1, x1, [x3], #16
    sub     x2, x2, #16
    b       .Lset_16
.Lset_8:
    cmp     x2, #8
    b.lo    .Lset_bytes
    str     x1, [x3], #8
    sub     x2, x2, #8
.Lset_bytes:
    cbz     x2, .Lset_done
    strb    w1, [x3], #1
    subs    x2, x2, #1
    b.ne    .Lset_bytes
.Lset_done:
    ret
.size memset, . - memset
