/*
 * Reports what the CPU says about itself, one line per CPUID leaf (and
 * sub-leaf 0), as "cpuid LEAF EAX EBX ECX EDX" in hex, then ends the run.
 * Entered by the Bochs loader in flat 32-bit protected mode; esp is set by
 * the host.
 */
        .text
        .code32
        .globl start
start:
        lea leaves, %edi
1:      mov (%edi), %eax
        cmp $0xffffffff, %eax
        je 3f
        lea text_cpuid, %esi
        call puts
        call puthex
        xor %ecx, %ecx
        cpuid
        call space
        call puthex
        mov %ebx, %eax
        call space
        call puthex
        mov %ecx, %eax
        call space
        call puthex
        mov %edx, %eax
        call space
        call puthex
        mov $'\n', %al
        out %al, $PORT_DEBUGCON
        add $4, %edi
        jmp 1b
3:      lea text_done, %esi
        call puts
        jmp shutdown

leaves:
        .long 0, 1, 7, 0x80000000, 0x80000001, 0x80000008, 0xffffffff
text_cpuid:
        .asciz "cpuid "
text_done:
        .asciz "done\n"

        .include "console.inc"
