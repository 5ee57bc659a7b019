/*
 * Prints a hash of ecx bytes at esi as "sum XXXXXXXX" (h = rol(h, 5) xor
 * byte, from h = 0), then ends the run: proof that the loader put blobs
 * where they belong, byte for byte, and nothing past them.
 */
        .text
        .code32
        .globl start
start:
        xor %eax, %eax
        xor %edx, %edx
1:      test %ecx, %ecx
        jz 2f
        rol $5, %edx
        movzbl (%esi), %eax
        xor %eax, %edx
        inc %esi
        dec %ecx
        jmp 1b
2:      lea text_sum, %esi
        call puts
        mov %edx, %eax
        call puthex
        mov $'\n', %al
        out %al, $PORT_DEBUGCON
        jmp shutdown
text_sum:
        .asciz "sum "

        .include "console.inc"
