/*
 * A guest that turns on paging under tables the host placed, and reports
 * what the CPU did over the debug console: the checks Bochs makes when
 * PDPTEs are loaded (MOV to CR0 setting PG, MOV to CR3 with paging on) and
 * at the walk of a probed address.
 *
 * Entered by the Bochs loader in flat 32-bit protected mode at 0x100000
 * (where it is linked), esp set, esi = the parameter block:
 *   0x00 mode: 1 PAE paging, 2 IA-32e paging (the code stays in 32-bit
 *        compatibility mode; exceptions go to 64-bit handlers)
 *   0x04 CR3 loaded with paging off, before CR0.PG is set
 *   0x08 CR3 loaded once paging is on, or 0 for none
 *   0x0c a linear address read (8 bytes) once paging is on, or 0 for none
 *   0x10 a physical address whose 8 bytes are printed after the read (an
 *        entry the walk may have written), or 0 for none
 *   0x14 a 4 KiB scratch page for the IDT
 * Everything the guest touches (itself, its stack, the block, the scratch
 * page, the watched entry) must be identity-mapped by both CR3 values.
 *
 * Lines (hex):
 *   mark cr0|cr3|read ADDR   where the MOV to CR0, the MOV to CR3 and the read are
 *   paging on                CR0.PG is set
 *   cr3 loaded               the second MOV to CR3 went through
 *   read HI LO               the 8 bytes read
 *   watch HI LO              the watched 8 bytes afterwards
 *   x VEC ERR EIP CR2        an exception (error code 0 for vectors without one); the run ends
 *   done
 */
        .set P_MODE, 0x00
        .set P_CR3, 0x04
        .set P_CR3_AGAIN, 0x08
        .set P_PROBE, 0x0c
        .set P_WATCH, 0x10
        .set P_SCRATCH, 0x14
        .set MODE_PAE, 1
        .set MODE_IA32E, 2

        .set SEL_CODE32, 0x08
        .set SEL_DATA, 0x10
        .set SEL_CODE64, 0x18
        .set CR0_PG, 0x80000000
        .set CR4_PAE, 0x20
        .set MSR_EFER, 0xc0000080
        .set EFER_LME, 0x100
        .set VECTORS, 32

        .text
        .code32
        .globl start
start:
        cli
        cld
        mov %esi, %ebp
        lgdt gdtr
        ljmp $SEL_CODE32, $1f
1:      mov $SEL_DATA, %eax
        mov %eax, %ds
        mov %eax, %es
        mov %eax, %ss
        mov %eax, %fs
        mov %eax, %gs

        lea text_mark_cr0, %esi
        mov $mark_cr0, %eax
        call put_line_hex
        lea text_mark_cr3, %esi
        mov $mark_cr3, %eax
        call put_line_hex
        lea text_mark_read, %esi
        mov $mark_read, %eax
        call put_line_hex

        mov P_SCRATCH(%ebp), %edi       /* the IDT: 8-byte gates to 32-bit code, or 16-byte ones to 64-bit code */
        lea vectors32, %esi
        mov $SEL_CODE32, %ebx
        mov $8, %edx
        cmpl $MODE_IA32E, P_MODE(%ebp)
        jne 2f
        lea vectors64, %esi
        mov $SEL_CODE64, %ebx
        mov $16, %edx
2:      xor %ecx, %ecx
3:      mov (%esi,%ecx,4), %eax
        push %eax
        and $0xffff, %eax
        push %ebx
        shl $16, %ebx
        or %ebx, %eax
        pop %ebx
        mov %eax, (%edi)
        pop %eax
        and $0xffff0000, %eax
        or $0x8e00, %eax                /* present, DPL 0, interrupt gate */
        mov %eax, 4(%edi)
        movl $0, 8(%edi)
        movl $0, 12(%edi)
        add %edx, %edi
        inc %ecx
        cmp $VECTORS, %ecx
        jb 3b
        imul $VECTORS, %edx
        dec %edx
        mov %dx, idtr
        mov P_SCRATCH(%ebp), %eax
        mov %eax, idtr + 2
        lidt idtr

        mov $CR4_PAE, %eax
        mov %eax, %cr4
        cmpl $MODE_IA32E, P_MODE(%ebp)
        jne 4f
        mov $MSR_EFER, %ecx
        rdmsr
        or $EFER_LME, %eax
        wrmsr
4:      mov P_CR3(%ebp), %eax
        mov %eax, %cr3
        mov %cr0, %eax
        or $CR0_PG, %eax
mark_cr0:
        mov %eax, %cr0
        lea text_paging_on, %esi
        call puts

        mov P_CR3_AGAIN(%ebp), %eax
        test %eax, %eax
        jz 5f
mark_cr3:
        mov %eax, %cr3
        lea text_cr3_loaded, %esi
        call puts

5:      mov P_PROBE(%ebp), %ebx
        test %ebx, %ebx
        jz 6f
mark_read:
        mov (%ebx), %eax
        mov 4(%ebx), %edx
        lea text_read, %esi
        call put_pair

6:      mov P_WATCH(%ebp), %ebx
        test %ebx, %ebx
        jz 7f
        mov (%ebx), %eax
        mov 4(%ebx), %edx
        lea text_watch, %esi
        call put_pair
7:      lea text_done, %esi
        call puts
        jmp shutdown

/* Prints the string at esi, eax in hex, a newline. */
put_line_hex:
        call puts
        call puthex
        jmp newline

/* Prints the string at esi, edx and eax in hex, a newline. */
put_pair:
        call puts
        xchg %eax, %edx
        call puthex
        call space
        xchg %eax, %edx
        call puthex
        jmp newline

/* Vectors that push an error code of their own. */
        .macro HAS_ERROR v, out
        .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21)
        .set \out, 1
        .else
        .set \out, 0
        .endif
        .endm

        .macro VECTOR32 v
vector32_\v:
        HAS_ERROR \v, has_error
        .if has_error == 0
        push $0
        .endif
        push $\v
        jmp trap32
        .endm

        .macro VECTOR64 v
vector64_\v:
        HAS_ERROR \v, has_error
        .if has_error == 0
        pushq $0
        .endif
        pushq $\v
        jmp trap64
        .endm

/* Prints "x VEC ERR EIP CR2" from the stack slots (vector at [esp], then
 * error code and eip, `slot` bytes apart) and ends the run. */
        .macro REPORT_TRAP slot
        lea text_trap, %esi
        call puts
        mov (%esp), %eax
        call puthex
        call space
        mov \slot(%esp), %eax
        call puthex
        call space
        mov 2*\slot(%esp), %eax
        call puthex
        call space
        mov %cr2, %eax
        call puthex
        call newline
        jmp shutdown
        .endm

/* [esp] vector, error code, eip. */
trap32:
        REPORT_TRAP 4

        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        VECTOR32 \v
        .endr

        .code64
/* Back to 32-bit code to print: [rsp] vector, error code, rip, as 8-byte slots. */
trap64:
        pushq $SEL_CODE32
        lea trap_compat(%rip), %rax
        push %rax
        lretq
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        VECTOR64 \v
        .endr
        .code32
trap_compat:
        REPORT_TRAP 8

        .balign 4
vectors32:
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long vector32_\v
        .endr
vectors64:
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long vector64_\v
        .endr

        .balign 8
gdt:
        .quad 0
        .quad 0x00cf9b000000ffff        /* 0x08 code, 32-bit */
        .quad 0x00cf93000000ffff        /* 0x10 data */
        .quad 0x00af9b000000ffff        /* 0x18 code, 64-bit */
gdt_end:
gdtr:
        .word gdt_end - gdt - 1
        .long gdt
idtr:
        .word 0
        .long 0

text_mark_cr0:  .asciz "mark cr0 "
text_mark_cr3:  .asciz "mark cr3 "
text_mark_read: .asciz "mark read "
text_paging_on: .asciz "paging on\n"
text_cr3_loaded: .asciz "cr3 loaded\n"
text_read:      .asciz "read "
text_watch:     .asciz "watch "
text_trap:      .asciz "x "
text_done:      .asciz "done\n"

        .include "console.inc"
