/*
 * The Bochs engine's firmware: a 64 KiB ROM block that ends at the reset
 * vector, in place of a BIOS. From reset it switches to flat 32-bit protected
 * mode, turns A20 on, copies the host's blobs from the rest of the ROM to
 * their physical addresses (or zeroes ranges), marks the start of the guest's
 * output on the debug console, loads the host's registers and jumps to the
 * entry point: the state a multiboot loader leaves (paging off, interrupts
 * off, CS 0x08 and data 0x10 flat 4 GiB segments of a GDT in this ROM).
 *
 * It is linked at 0xffff0000, the last 64 KiB below 4 GiB; the host fills
 * the parameter block at its start (see rom.ts).
 */
        .set PORT_DEBUGCON, 0xe9
        .set PORT_SYSCTL_A, 0x92        /* bit 1: A20 */
        .set SEL_CODE, 0x08
        .set SEL_DATA, 0x10
        .set CR0_PE, 1
        .set CR0_CD_NW, 0x60000000
        .set E_DEST, 0                  /* manifest entry: u32 destination, source, length, kind */
        .set E_SRC, 4
        .set E_LEN, 8
        .set E_KIND, 12
        .set E_BYTES, 16
        .set KIND_ZERO, 1

        .text
        .globl rom_base
rom_base:
params:
        .ascii "X86PTBXL"               /* 0x00 magic */
manifest_ptr:   .long 0                 /* 0x08 physical address of the manifest */
manifest_count: .long 0                 /* 0x0c entries */
reg_eax:        .long 0                 /* 0x10 */
reg_ebx:        .long 0                 /* 0x14 */
reg_ecx:        .long 0                 /* 0x18 */
reg_edx:        .long 0                 /* 0x1c */
reg_esi:        .long 0                 /* 0x20 */
reg_edi:        .long 0                 /* 0x24 */
reg_ebp:        .long 0                 /* 0x28 */
reg_esp:        .long 0                 /* 0x2c */
reg_eip:        .long 0                 /* 0x30 */
        .balign 16
gdt:
        .quad 0
        .quad 0x00cf9b000000ffff        /* 0x08 code, 32-bit, ring 0 (accessed bit preset: no write to ROM) */
        .quad 0x00cf93000000ffff        /* 0x10 data */
gdt_end:
gdtr:
        .word gdt_end - gdt - 1
        .long gdt
/* Printed on the debug console just before the jump: what follows is the guest's. */
start_mark:
        .ascii "\0x86pt-bochs-entry\0"
start_mark_end:

        .code16
real_entry:
        cli
        cld
        lgdtl %cs:(gdtr - rom_base)
        mov %cr0, %eax
        and $~CR0_CD_NW, %eax
        or $CR0_PE, %eax
        mov %eax, %cr0
        .byte 0x66, 0xea                /* ljmpl $SEL_CODE, $protected_entry */
        .long protected_entry
        .word SEL_CODE

        .code32
protected_entry:
        mov $SEL_DATA, %eax
        mov %eax, %ds
        mov %eax, %es
        mov %eax, %ss
        mov %eax, %fs
        mov %eax, %gs
        in $PORT_SYSCTL_A, %al
        or $2, %al
        and $~1, %al                    /* bit 0 would reset the machine */
        out %al, $PORT_SYSCTL_A
        mov manifest_ptr, %ebx
        mov manifest_count, %ebp
1:      test %ebp, %ebp
        jz 4f
        mov E_DEST(%ebx), %edi
        mov E_LEN(%ebx), %edx
        cmpl $KIND_ZERO, E_KIND(%ebx)
        je 2f
        mov E_SRC(%ebx), %esi
        mov %edx, %ecx
        shr $2, %ecx
        rep movsl
        mov %edx, %ecx
        and $3, %ecx
        rep movsb
        jmp 3f
2:      xor %eax, %eax
        mov %edx, %ecx
        shr $2, %ecx
        rep stosl
        mov %edx, %ecx
        and $3, %ecx
        rep stosb
3:      add $E_BYTES, %ebx
        dec %ebp
        jmp 1b
4:      mov $start_mark, %esi
        mov $(start_mark_end - start_mark), %ecx
        mov $PORT_DEBUGCON, %dx
        rep outsb
        mov reg_eax, %eax
        mov reg_ebx, %ebx
        mov reg_ecx, %ecx
        mov reg_edx, %edx
        mov reg_esi, %esi
        mov reg_edi, %edi
        mov reg_ebp, %ebp
        mov reg_esp, %esp
        jmp *reg_eip

        .code16
        .org 0xfff0
reset_vector:
        jmp real_entry
        .org 0x10000
