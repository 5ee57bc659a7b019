/*
 * The Bochs engine's firmware: a 64 KiB ROM block that ends at the reset
 * vector, in place of a BIOS. From reset it switches to flat 32-bit protected
 * mode, turns A20 on, copies the host's blobs to their physical addresses
 * from the rest of the ROM or, when they do not fit there, from an ATA disk
 * (PIO, polled), zeroes ranges, marks the start of the guest's
 * output on the debug console, loads the host's registers and jumps to the
 * entry point: the state a multiboot loader leaves (paging off, interrupts
 * off, CS 0x08 and data 0x10 flat 4 GiB segments of a GDT in this ROM).
 *
 * It is linked at 0xffff0000, the last 64 KiB below 4 GiB; the host fills
 * the parameter block at its start (see rom.ts). It uses physical page 0:
 * a sector buffer and its stack.
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
        .set KIND_DISK, 2               /* source: the first sector (LBA) on the ATA disk */
        .set SECTOR_BUFFER, 0x800       /* the last partial sector of a blob lands here first */
        .set LOADER_STACK_TOP, 0x1000
        .set SECTOR_BYTES, 512
        .set ATA_DATA, 0x1f0
        .set ATA_COUNT, 0x1f2
        .set ATA_LBA0, 0x1f3
        .set ATA_LBA1, 0x1f4
        .set ATA_LBA2, 0x1f5
        .set ATA_DEVICE, 0x1f6
        .set ATA_STATUS, 0x1f7          /* reading; writing: command */
        .set ATA_CONTROL, 0x3f6
        .set ATA_READ_SECTORS, 0x20
        .set ATA_BSY, 0x80
        .set ATA_DRQ, 0x08
        .set ATA_ERR, 0x01
        .set ATA_DF, 0x20

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
        mov $LOADER_STACK_TOP, %esp
        mov manifest_ptr, %ebx
        mov manifest_count, %ebp
1:      test %ebp, %ebp
        jz 4f
        mov E_DEST(%ebx), %edi
        mov E_LEN(%ebx), %edx
        cmpl $KIND_ZERO, E_KIND(%ebx)
        je 2f
        cmpl $KIND_DISK, E_KIND(%ebx)
        jne 5f
        call disk_copy
        jmp 3f
5:      mov E_SRC(%ebx), %esi
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

/* Reads the entry at ebx from the disk: whole sectors straight to the destination, the rest through the buffer. */
disk_copy:
        mov $2, %al                     /* no interrupts: the loader polls */
        mov $ATA_CONTROL, %dx
        out %al, %dx
        mov E_SRC(%ebx), %esi           /* esi: next LBA, edi: destination, edx: bytes left */
        mov E_DEST(%ebx), %edi
        mov E_LEN(%ebx), %edx
1:      cmp $SECTOR_BYTES, %edx
        jb 2f
        mov %edx, %ecx                  /* up to 256 whole sectors per command */
        shr $9, %ecx
        cmp $256, %ecx
        jbe 3f
        mov $256, %ecx
3:      push %edx
        call read_sectors               /* advances esi and edi */
        pop %edx
        shl $9, %ecx
        sub %ecx, %edx
        jmp 1b
2:      test %edx, %edx
        jz 4f
        push %edi
        push %edx
        mov $SECTOR_BUFFER, %edi
        mov $1, %ecx
        call read_sectors
        pop %ecx
        pop %edi
        mov $SECTOR_BUFFER, %esi
        rep movsb
4:      ret

/* Reads ecx (1-256) sectors from LBA esi to edi; esi and edi end past them, ecx is kept. */
read_sectors:
        push %ecx
        push %ebx
        mov %ecx, %ebx
        call ata_wait_idle
        mov %esi, %eax
        shr $24, %eax
        and $0x0f, %al
        or $0xe0, %al                   /* master, LBA */
        mov $ATA_DEVICE, %dx
        out %al, %dx
        mov %bl, %al                    /* 256 is written as 0 */
        mov $ATA_COUNT, %dx
        out %al, %dx
        mov %esi, %eax
        mov $ATA_LBA0, %dx
        out %al, %dx
        shr $8, %eax
        mov $ATA_LBA1, %dx
        out %al, %dx
        shr $8, %eax
        mov $ATA_LBA2, %dx
        out %al, %dx
        mov $ATA_READ_SECTORS, %al
        mov $ATA_STATUS, %dx
        out %al, %dx
1:      mov $ATA_STATUS, %dx
2:      in %dx, %al
        test $ATA_BSY, %al
        jnz 2b
        test $(ATA_ERR | ATA_DF), %al
        jnz disk_failed
        test $ATA_DRQ, %al
        jz 2b
        mov $ATA_DATA, %dx
        mov $(SECTOR_BYTES / 2), %ecx
        rep insw
        inc %esi
        dec %ebx
        jnz 1b
        pop %ebx
        pop %ecx
        ret

ata_wait_idle:
        mov $ATA_STATUS, %dx
1:      in %dx, %al
        test $ATA_BSY, %al
        jnz 1b
        ret

/* The disk refused a read: say so on the console and stop (the host sees no start mark). */
disk_failed:
        mov $disk_failed_text, %esi
        mov $(disk_failed_end - disk_failed_text), %ecx
        mov $PORT_DEBUGCON, %dx
        rep outsb
        cli
1:      hlt
        jmp 1b
disk_failed_text:
        .ascii "x86pt-bochs-loader: the ATA disk refused a read\n"
disk_failed_end:

        .code16
        .org 0xfff0
reset_vector:
        jmp real_entry
        .org 0x10000
