/*
 * The QEMU guest that proves a set of page tables: a multiboot kernel (with
 * the a.out address fields, so the host chooses where it loads) that, for
 * each case in the staging area the host placed in memory,
 *
 *   - copies the case's tables to their physical address, copies itself to a
 *     page the layout identity-maps executable and writes a signature into
 *     the first 16 bytes of every physical page the layout maps,
 *   - turns paging on there as that mode's early boot does, then continues
 *     through the dual mapping (when the layout has one) and reports the
 *     address it runs at,
 *   - probes every page of the case's probe runs: read (the signature tells
 *     which physical page answered), write (the value read is written back),
 *     access from CPL 3 (or, when no page can run ring-3 code, a supervisor
 *     read with SMAP, which faults on exactly the same pages) and execute
 *     (a call to the `ret` in the signature slot),
 *   - reports the observations over the debug console as runs of pages,
 *     optionally halts until an NMI so the host can read QEMU's MMU,
 *   - turns paging off again and goes on with the next case,
 * and leaves through isa-debug-exit.
 *
 * A case with F_LONG reaches physical memory at or above 4 GiB, which code
 * with paging off cannot: the stub prepares it (copies, signatures, context)
 * in IA-32e mode under its own identity map (S_STUB_CR3). A 32-bit or PAE
 * case then goes on as any other; an IA-32e case, whose code and context may
 * lie above 4 GiB too, is set up there and switches CR3 from the stub's
 * tables to its own, and back.
 *
 * All code is position independent: it runs at the load address, at the
 * case's identity-mapped page and at that page's dual alias. The build links
 * it at two bases and insists on identical bytes.
 *
 * Debug console lines (hex numbers):
 *   c CASE               a case starts
 *   e BASE               paging is on; BASE is where the code really runs
 *   u c|s                user access checked from CPL 3 (c) or with SMAP (s)
 *   o VIRT PAGES FLAGS VALUE
 *                        a run of probed pages observed alike (IA-32e: without
 *                        leading zeros); FLAGS: 1 read,
 *                        2 write, 4 user, 8 execute, 0x10 signed; VALUE: the
 *                        first page's signature (signed), the 8 bytes read
 *                        (unsigned), or the #PF error code (not readable)
 *   m                    halted until an NMI so the host can read the MMU
 *   d                    the case is done
 *   a PHYS XOR           with F_TABLE_DIFF, after the case: a dword of the
 *                        tables the case changed, XOR its original value
 *                        (A/D-only changes only in the top table's first 32 bytes)
 *   x VEC IP ERR CR2     an exception the probes did not provoke; the guest
 *                        then halts for good and the host stops it
 *   z                    all cases done
 */

/* The binary interface shared with the host (generated from stub-abi.ts when the stub is built). */
        .include "probe-stub-abi.inc"

        .set CR0_WP, 0x00010000
        .set CR0_PG, 0x80000000
        .set CR4_PSE, 0x10
        .set CR4_PAE, 0x20
        .set CR4_SMAP, 0x00200000
        .set MSR_EFER, 0xc0000080
        .set EFER_LME, 0x100
        .set EFER_NXE, 0x800

        .set SEL_CODE32, 0x08
        .set SEL_DATA, 0x10
        .set SEL_CODE64, 0x18
        .set SEL_USER_CODE32, 0x23
        .set SEL_USER_DATA, 0x2b
        .set SEL_USER_CODE64, 0x33
        .set SEL_TSS, 0x38

        .set VEC_NMI, 2
        .set VEC_PF, 14
        .set VEC_USER_RETURN, 32
        .set IDT_VECTORS, 33

        .text
        .code32
        .globl image_start
image_start:
/* The signature slot: the stub writes this page's signature over the first 8 bytes. */
        .quad 0
        .byte 0xc3
        .fill SLOT_BYTES - 9, 1, 0xcc

/* Multiboot header with the a.out address fields; the host fills them in. */
mb_header:
        .long 0x1BADB002
        .long 0x00010000
        .long -(0x1BADB002 + 0x00010000)
        .long 0                         /* header_addr */
        .long 0                         /* load_addr */
        .long 0                         /* load_end_addr */
        .long 0                         /* bss_end_addr */
        .long 0                         /* entry_addr */
staging_ptr:
        .long 0                         /* physical address of the staging area */
entry_offset:
        .long home_entry - image_start  /* read by the host */
runner_bytes:
        .long runner_end - image_start  /* what runs at a case's code page: the host checks it fits one page */

/* The host patches the image where the interface says: refuse to build otherwise. */
        .macro AT_ABI label, offset
        .if (\label - image_start) != \offset
        .error "\label is not where stub-abi.ts puts it (\offset)"
        .endif
        .endm
        AT_ABI mb_header, IMAGE_MB_HEADER
        AT_ABI staging_ptr, IMAGE_STAGING_PTR
        AT_ABI entry_offset, IMAGE_ENTRY_OFFSET
        AT_ABI runner_bytes, IMAGE_RUNNER_BYTES

/* Enters IA-32e mode (CR4.PAE already set) under the tables at CR3, then far-jumps to 64-bit TARGET (ebx = this code's base). */
        .macro ENTER_IA32E cr3, cr0, target
        mov $MSR_EFER, %ecx
        xor %edx, %edx
        mov $(EFER_LME | EFER_NXE), %eax
        wrmsr
        mov \cr3, %eax
        mov %eax, %cr3
        mov %cr0, %eax
        or $\cr0, %eax
        mov %eax, %cr0
        lea (\target - image_start)(%ebx), %eax
        pushl $SEL_CODE64
        push %eax
        lret
        .endm

/* 64-bit code: on at LABEL of the copy of this code whose base the context keeps at BASE (C_BASE, C_IDBASE). */
        .macro JMP_AT base, label
        mov \base(%rbp), %rax
        add $(\label - image_start), %rax
        jmp *%rax
        .endm

/* Flat ring-0 data in SS, DS and ES (and FS, GS with `all`); clobbers eax. */
        .macro FLAT_DATA all=0
        mov $SEL_DATA, %eax
        mov %eax, %ss
        mov %eax, %ds
        mov %eax, %es
        .if \all
        mov %eax, %fs
        mov %eax, %gs
        .endif
        .endm

/* From 64-bit code to 32-bit compatibility-mode code at rax, with flat ring-0 data segments. */
        .macro TO_COMPAT
        push %rax
        FLAT_DATA
        pop %rax
        pushq $SEL_CODE32
        push %rax
        lretq
        .endm

/* In compatibility mode: paging off, which leaves IA-32e mode; EFER and CR4 cleared. */
        .macro LEAVE_IA32E
        mov %cr0, %eax
        and $~CR0_PG, %eax
        mov %eax, %cr0
        mov $MSR_EFER, %ecx
        xor %eax, %eax
        xor %edx, %edx
        wrmsr
        mov %eax, %cr4
        .endm

/*
 * Prepares a case with paging off (32-bit registers) or under the stub's own
 * tables (64-bit ones): DI = descriptor, BX = this code's base, BP = the
 * context it loads. Clears the context, copies the tables to their physical
 * address (unless the host placed them there), this code to the page it will run from and the probe runs around
 * the context pages' slots, fills in the context, and writes the signatures
 * (page number and tag, then `ret` at byte 8).
 */
        .macro PREPARE_CASE ax, bx, dx, si, di, bp
        mov D_CTX(\di), \bp
        push \di
        mov \bp, \di
        xor %eax, %eax
        mov $(CTX_CLEAR_BYTES / 4), %ecx
        rep stosl
        pop \di
        testl $F_TABLES_PLACED, D_FLAGS(\di)
        jnz .Ltables_placed\@
        push \di
        mov D_TABLES_SRC(\di), \si
        mov D_TABLES_LEN(\di), %ecx
        mov D_TABLES_PHYS(\di), \di
        mov %ecx, %edx
        shr $2, %ecx
        rep movsl
        mov %edx, %ecx
        and $3, %ecx
        rep movsb
        pop \di
.Ltables_placed\@:
        push \di
        mov \bx, \si
        mov D_CODE(\di), \di
        mov $(runner_end - image_start), %ecx
        rep movsb
        pop \di

        mov D_PROBE_SRC(\di), \si
        mov D_PROBE_COUNT(\di), %ecx
        lea C_RUNS_START(\bp), \dx
        mov \dx, C_RUNS(\bp)
        mov %ecx, C_NRUNS(\bp)
.Lrun\@:
        test %ecx, %ecx
        jz .Lruns_copied\@
        mov (\si), %eax
        mov %eax, (\dx)
        mov 4(\si), %eax
        mov %eax, 4(\dx)
        mov 8(\si), %eax
        mov %eax, 8(\dx)
        movl $0, 12(\dx)
        add $PROBE_RUN_BYTES, \si
        add $PROBE_RUN_BYTES, \dx
        test $0xfff, %edx
        jnz .Lrun_copied\@
        add $SLOT_BYTES, \dx
.Lrun_copied\@:
        dec %ecx
        jmp .Lrun\@

.Lruns_copied\@:
        .irp field, MODE, FLAGS, CR3, CR3+4, DELTA, DELTA+4
        mov D_\field(\di), %eax
        mov %eax, C_\field(\bp)
        .endr
        lea (case_return - image_start)(\bx), %eax
        mov %eax, C_HOME_RET(\bp)

        mov D_SIGN_SRC(\di), \si
        mov D_SIGN_COUNT(\di), %ecx
.Lsign_run\@:
        test %ecx, %ecx
        jz .Lsigned\@
        mov (\si), \dx
        mov 8(\si), %eax
.Lsign_page\@:
        test %eax, %eax
        jz .Lsign_next\@
        push \ax
        mov \dx, \ax
        shr $12, \ax
        mov %eax, (\dx)
        movl $(SIG_TAG << 16), 4(\dx)
        movl $0xccccccc3, 8(\dx)
        movl $0xcccccccc, 12(\dx)
        pop \ax
        add $0x1000, \dx
        dec %eax
        jmp .Lsign_page\@
.Lsign_next\@:
        add $SIGN_RUN_BYTES, \si
        dec %ecx
        jmp .Lsign_run\@
.Lsigned\@:
        .endm

/*
 * The case's GDT (with its TSS) in the context at BP, from the template at
 * BX, loaded; RSP0 (SS0 outside IA-32e mode) the interrupt stack. W is the
 * width of the code running it.
 */
        .macro CASE_GDT w, ax, bx, si, di, bp
        lea (gdt_template - image_start)(\bx), \si
        lea C_GDT(\bp), \di
        mov $(GDT_BYTES / 4), %ecx
        rep movsl
        lea C_TSS(\bp), \ax             /* TSS descriptor: limit 0x67, present, available */
        mov %eax, %edx
        shl $16, %edx
        or $0x67, %edx
        mov %edx, C_GDT + SEL_TSS(\bp)
        mov %eax, %edx
        shr $16, %edx
        and $0xff, %edx
        or $0x8900, %edx
        mov %eax, %ecx
        and $0xff000000, %ecx
        or %ecx, %edx
        mov %edx, C_GDT + SEL_TSS + 4(\bp)
        .if \w == 64
        shr $32, %rax
        mov %eax, C_GDT + SEL_TSS + 8(\bp)
        .endif
        movl $0, C_TSS + 8(\bp)         /* IA-32e: RSP0's high half */
        lea C_ISTACK_TOP(\bp), \ax      /* the stack a trap from CPL 3 switches to */
        mov \ax, C_TSS + 4(\bp)
        cmpl $MODE_IA32E, C_MODE(\bp)
        je .Ltss64\@
        movl $SEL_DATA, C_TSS + 8(\bp)  /* 32-bit TSS: SS0 */
.Ltss64\@:
        movw $104, C_TSS + 0x66(\bp)    /* no I/O bitmap */
        movw $(GDT_BYTES - 1), C_GDTR(\bp)
        movl $0, C_GDTR + 6(\bp)
        lea C_GDT(\bp), \ax
        mov \ax, C_GDTR + 2(\bp)
        lgdt C_GDTR(\bp)
        .endm

gdt_template:
        .quad 0
        .quad 0x00cf9b000000ffff        /* 0x08 code, 32-bit, ring 0 (accessed bit preset) */
        .quad 0x00cf93000000ffff        /* 0x10 data, ring 0 */
        .quad 0x00af9b000000ffff        /* 0x18 code, 64-bit, ring 0 */
        .quad 0x00cffb000000ffff        /* 0x20 code, 32-bit, ring 3 */
        .quad 0x00cff3000000ffff        /* 0x28 data, ring 3 */
        .quad 0x00affb000000ffff        /* 0x30 code, 64-bit, ring 3 */
        .quad 0, 0                      /* 0x38 TSS (16 bytes in IA-32e mode) */
gdt_template_end:
        .set GDT_BYTES, gdt_template_end - gdt_template

home_gdtr:
        .word GDT_BYTES - 1
        .long 0

/* ---------------------------------------------------------------------------
 * The case runner: entered at the case's code page with paging off, ebp = context.
 */
runner_entry:
        lea C_STACK_TOP(%ebp), %esp
        call 1f
1:      pop %ebx
        sub $(1b - image_start), %ebx
        mov %ebx, C_IDBASE(%ebp)
        mov %ebx, %eax
        xor %edx, %edx
        add C_DELTA(%ebp), %eax
        adc C_DELTA + 4(%ebp), %edx
        mov %eax, C_BASE(%ebp)
        mov %edx, C_BASE + 4(%ebp)

        CASE_GDT 32, %eax, %ebx, %esi, %edi, %ebp
        lea (3f - image_start)(%ebx), %eax
        pushl $SEL_CODE32
        push %eax
        lret
3:      FLAT_DATA
        cmpl $MODE_IA32E, C_MODE(%ebp)
        je enter_ia32e

        call build_idt32
        lidt C_IDTR(%ebp)
        mov $SEL_TSS, %eax
        ltr %ax
        xor %eax, %eax                  /* EFER: NXE for PAE, nothing for 32-bit paging */
        xor %edx, %edx
        cmpl $MODE_PAE, C_MODE(%ebp)
        jne 4f
        mov $EFER_NXE, %eax
4:      mov $MSR_EFER, %ecx
        wrmsr
        mov $CR4_PSE, %eax
        cmpl $MODE_PAE, C_MODE(%ebp)
        jne 5f
        mov $CR4_PAE, %eax
5:      testl $F_SMAP, C_FLAGS(%ebp)
        jz 6f
        or $CR4_SMAP, %eax
6:      mov %eax, %cr4
        mov C_CR3(%ebp), %eax
        mov %eax, %cr3
        mov %cr0, %eax
        or $(CR0_PG | CR0_WP), %eax
        mov %eax, %cr0
        mov C_BASE(%ebp), %eax          /* on through the dual mapping */
        add $(main32 - image_start), %eax
        jmp *%eax

enter_ia32e:
        mov $CR4_PAE, %eax
        testl $F_SMAP, C_FLAGS(%ebp)
        jz 1f
        or $CR4_SMAP, %eax
1:      mov %eax, %cr4
        ENTER_IA32E C_CR3(%ebp), CR0_PG|CR0_WP, entry64

/* IDT gates for 32-bit and PAE paging (handlers at the running base). */
build_idt32:
        lea (idt32_offsets - image_start)(%ebx), %esi
        lea C_IDT(%ebp), %edi
        xor %ecx, %ecx
1:      movzwl (%esi,%ecx,2), %eax
        add C_BASE(%ebp), %eax
        mov %eax, %edx
        and $0xffff, %eax
        or $(SEL_CODE32 << 16), %eax
        mov %eax, (%edi,%ecx,8)
        and $0xffff0000, %edx
        or $0x8e00, %edx
        cmp $VEC_USER_RETURN, %ecx
        jne 2f
        or $0x6000, %edx
2:      mov %edx, 4(%edi,%ecx,8)
        inc %ecx
        cmp $IDT_VECTORS, %ecx
        jb 1b
        movw $(IDT_VECTORS * 8 - 1), C_IDTR(%ebp)
        mov %edi, C_IDTR + 2(%ebp)
        ret


/* ---------------------------------------------------------------------------
 * What both paging paths do alike, written once. Each macro takes the path's
 * width W (32 for 32-bit and PAE paging, 64 for IA-32e mode), which picks that
 * path's variant of RESUME_AT, PROBE_DONE and RING3 and its routines (putcW,
 * probe_pageW, ...), and the registers it works in at that width. Counts stay
 * 32-bit (%ecx) in both.
 */

/*
 * The probes' primitives, for both widths: RESUME_AT (where the #PF handler
 * sends a faulting probe: LABEL at the running base, on the probe's stack),
 * PROBE_DONE (no probe running), RING3 (to TARGET at CPL 3).
 */
        .macro RESUME_AT w, label
        .if \w == 64
        lea \label(%rip), %rax
        mov %rax, C_RESUME(%rbp)
        mov %rsp, C_SAVED_SP(%rbp)
        movl $0, C_FAULTED(%rbp)
        .else
        mov C_BASE(%ebp), %eax
        add $(\label - image_start), %eax
        mov %eax, C_RESUME(%ebp)
        mov %esp, C_SAVED_SP(%ebp)
        movl $0, C_FAULTED(%ebp)
        .endif
        .endm

        .macro PROBE_DONE w
        .if \w == 64
        movq $0, C_RESUME(%rbp)
        .else
        movl $0, C_RESUME(%ebp)
        .endif
        .endm

        .macro RING3 w, target
        .if \w == 64
        lea \target(%rip), %rcx
        pushq $SEL_USER_DATA
        pushq $0                        /* ring 3 never touches its stack */
        pushfq
        pushq $SEL_USER_CODE64
        push %rcx
        iretq
        .else
        mov C_BASE(%ebp), %ecx
        add $(\target - image_start), %ecx
        pushl $SEL_USER_DATA
        pushl $0
        pushf
        pushl $SEL_USER_CODE32
        push %ecx
        iret
        .endif
        .endm

/* Finds out how user access is checked (ring 3 if it can run here, else SMAP) and reports it. */
        .macro CHOOSE_USER_CHECK w, ax, bp
        testl $F_SMAP, C_FLAGS(\bp)
        jnz .Lsmap\@
        RESUME_AT \w, .Lring3_tried\@     /* can ring 3 run here? */
        RING3 \w, user_return_now\w
.Lring3_tried\@:
        PROBE_DONE \w
        cmpl $0, C_FAULTED(\bp)
        je .Lreport\@
        mov %cr4, \ax
        or $CR4_SMAP, \ax
        mov \ax, %cr4
.Lsmap\@:
        movl $1, C_SMAP(\bp)
        stac
.Lreport\@:
        mov $'u', %al
        call putc\w
        call space\w
        mov $'c', %al
        cmpl $0, C_SMAP(\bp)
        je .Lreported\@
        mov $'s', %al
.Lreported\@:
        call putc\w
        call newline\w
        .endm

/* Probes every page of the case's probe runs (PROBE_RUN_BYTES each, around the context pages' slots). */
        .macro PROBE_RUNS w, cx, si, di, bp
        mov C_RUNS(\bp), \di
        mov C_NRUNS(\bp), %ecx
.Lrun\@:
        test %ecx, %ecx
        jz .Lruns_done\@
        push \cx
        mov (\di), \si
        mov 8(\di), %ecx
.Lpage\@:
        test %ecx, %ecx
        jz .Lrun_done\@
        push \cx
        push \di
        call probe_page\w
        pop \di
        pop \cx
        add $0x1000, \si
        dec %ecx
        jmp .Lpage\@
.Lrun_done\@:
        pop \cx
        add $PROBE_RUN_BYTES, \di
        test $0xfff, %edi
        jnz .Lnext_run\@
        add $SLOT_BYTES, \di
.Lnext_run\@:
        dec %ecx
        jmp .Lrun\@
.Lruns_done\@:
        call flush\w
        .endm

/* Halts until the host's NMI when the case asks for it, then reports the case done. */
        .macro PAUSE_FOR_HOST w, bp
        testl $F_PAUSE, C_FLAGS(\bp)
        jz .Lresumed\@
        RESUME_AT \w, .Lresumed\@
        mov $'m', %al
        call putc\w
        call newline\w
.Lhalt\@:
        hlt
        jmp .Lhalt\@
.Lresumed\@:
        PROBE_DONE \w
        mov $'d', %al
        call putc\w
        call newline\w
        .endm

/*
 * Write (FLAG O_WRITE: writes back what is there) or execute (O_EXEC: calls
 * the `ret` in the signed page's slot) probe of the page at SI; sets FLAG
 * unless that faults.
 */
        .macro PROBE_FLAG w, cx, si, bp, flag
        RESUME_AT \w, .Ldone\@
        .if \flag == O_WRITE
        mov (\si), \cx
        mov \cx, (\si)
        .else
        lea 8(\si), \cx
        call *\cx
        .endif
.Ldone\@:
        PROBE_DONE \w
        cmpl $0, C_FAULTED(\bp)
        jne .Lfaulted\@
        orl $\flag, C_OBS_FLAGS(\bp)
.Lfaulted\@:
        .endm

/* User probe of the page at SI: a read from ring 3, or a supervisor read under SMAP; sets O_USER. */
        .macro PROBE_USER w, ax, cx, si, bp
        RESUME_AT \w, .Ldone\@
        cmpl $0, C_SMAP(\bp)
        jne .Lsupervisor\@
        RING3 \w, user_read\w
.Lsupervisor\@:
        clac
        mov (\si), \cx
.Ldone\@:
        PROBE_DONE \w
        mov C_FAULTED(\bp), %eax        /* user: ring 3 got through, or SMAP stopped the supervisor */
        cmpl $0, C_SMAP(\bp)
        je .Lring3\@
        stac
        xor $1, %eax
.Lring3\@:
        test %eax, %eax
        jnz .Lnot_user\@
        orl $O_USER, C_OBS_FLAGS(\bp)
.Lnot_user\@:
        .endm


/* Exception entries trapW_VEC for every vector without a handler of its own: push a 0 error code where the CPU pushes none. */
        .macro TRAP_ENTRIES w
        .irp vec, 0,1,3,4,5,6,7,8,9,10,11,12,13,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
trap\w\()_\vec:
        .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
        .else
        push $0
        .endif
        push $\vec
        jmp trap\w
        .endr
        .endm

/* The debug console: putcW (al), spaceW, newlineW, puthexW (AX, DIGITS hex digits); all keep every register. */
        .macro CONSOLE_ROUTINES w, ax, cx, dx, digits
putc\w:
        out %al, $PORT_DEBUGCON
        ret
space\w:
        push \ax
        mov $' ', %al
        out %al, $PORT_DEBUGCON
        pop \ax
        ret
newline\w:
        push \ax
        mov $'\n', %al
        out %al, $PORT_DEBUGCON
        pop \ax
        ret
        .if \w == 64
/* puthexs64: rax in as few hex digits as it takes (one at least): the probe reports stay short. */
puthexs64:
        push %rcx
        push %rdx
        push %rax
        mov %rax, %rdx
        mov $16, %ecx
1:      cmp $1, %ecx
        je puthex_digits64
        mov %rdx, %rax
        shr $60, %rax
        jnz puthex_digits64
        shl $4, %rdx
        dec %ecx
        jmp 1b
        .endif
puthex\w:
        push \cx
        push \dx
        push \ax
        mov \ax, \dx
        mov $\digits, %ecx
puthex_digits\w:
1:      rol $4, \dx
        mov %dl, %al
        and $0xf, %al
        add $'0', %al
        cmp $'9', %al
        jbe 2f
        add $('a' - '9' - 1), %al
2:      out %al, $PORT_DEBUGCON
        loop 1b
        pop \ax
        pop \dx
        pop \cx
        ret
        .endm

/*
 * The exception handlers (WORD: the stack slot size): #PF records the fault
 * and continues where the probe asked, on the probe's stack; int 0x20 from
 * ring 3 means the user probe finished without a fault; the NMI means the
 * host has read the MMU, so the guest continues at the resume point; any
 * other exception is reported ([sp] vector, error code, ip) and the guest
 * halts for the host to read the MMU and stop the machine.
 */
        .macro EXCEPTION_HANDLERS w, ax, sp, bp, word, iret
page_fault\w:
        push \ax
        mov \word(\sp), \ax
        mov %eax, C_ERR(\bp)
        mov %cr2, \ax
        mov \ax, C_CR2(\bp)
        .if \w == 32
        movl $0, C_CR2 + 4(\bp)
        .endif
        mov C_RESUME(\bp), \ax
        test \ax, \ax
        jz 1f
        movl $1, C_FAULTED(\bp)
        mov C_SAVED_SP(\bp), \sp
        jmp *\ax
1:      pop \ax
        push $VEC_PF
        jmp trap\w

user_return\w:
        mov C_SAVED_SP(\bp), \sp
        jmp *C_RESUME(\bp)

nmi\w:
        push \ax
        mov C_RESUME(\bp), \ax
        test \ax, \ax
        jz 1f
        mov \ax, \word(\sp)
1:      pop \ax
        \iret

        TRAP_ENTRIES \w

trap\w:
        mov $'x', %al
        call putc\w
        call space\w
        mov (\sp), \ax
        call puthex\w
        call space\w
        mov 2 * \word(\sp), \ax
        call puthex\w
        call space\w
        mov \word(\sp), \ax
        call puthex\w
        call space\w
        mov %cr2, \ax
        call puthex\w
        call newline\w
        cli
1:      hlt
        jmp 1b
        .endm

/*
 * recordW: adds the page at SI (flags ecx, value edx:eax in 32-bit code, rdx
 * in IA-32e) to the current run (same flags, the next page, and the frame
 * number going on by one a page if signed, the same value if not readable),
 * or prints that run and starts a new one. probe_pageW falls through to it.
 */
        .macro RECORD_PAGE w, si, bp
record\w:
        cmpl $0, C_RUN_PAGES(\bp)
        je 5f
        cmp C_RUN_FLAGS(\bp), %ecx
        jne 4f
        cmp C_RUN_NEXT(\bp), \si
        jne 4f
        test $O_READ, %ecx
        jz 2f
        test $O_SIGNED, %ecx
        jz 4f
        .if \w == 64
        movl C_RUN_PAGES(%rbp), %eax
        add C_RUN_VALUE(%rbp), %rax
        cmp %rax, %rdx
        .else
        push %eax
        push %edx
        sub C_RUN_PAGES(%ebp), %eax
        sbb $0, %edx
        cmp C_RUN_VALUE(%ebp), %eax
        jne 1f
        cmp C_RUN_VALUE + 4(%ebp), %edx
1:      pop %edx
        pop %eax
        .endif
        jne 4f
        jmp 3f
        .if \w == 64
2:      cmp C_RUN_VALUE(%rbp), %rdx
        .else
2:      cmp C_RUN_VALUE(%ebp), %eax
        jne 4f
        cmp C_RUN_VALUE + 4(%ebp), %edx
        .endif
        jne 4f
3:      incl C_RUN_PAGES(\bp)
        .if \w == 64
        addq $0x1000, C_RUN_NEXT(%rbp)
        .else
        addl $0x1000, C_RUN_NEXT(%ebp)
        .endif
        ret
4:      call flush\w
5:      .if \w == 64
        mov %rsi, C_RUN_VIRT(%rbp)
        lea 0x1000(%rsi), %rax
        mov %rax, C_RUN_NEXT(%rbp)
        mov %rdx, C_RUN_VALUE(%rbp)
        .else
        mov %esi, C_RUN_VIRT(%ebp)
        movl $0, C_RUN_VIRT + 4(%ebp)
        mov %esi, C_RUN_NEXT(%ebp)
        addl $0x1000, C_RUN_NEXT(%ebp)
        mov %eax, C_RUN_VALUE(%ebp)
        mov %edx, C_RUN_VALUE + 4(%ebp)
        .endif
        movl $1, C_RUN_PAGES(\bp)
        mov %ecx, C_RUN_FLAGS(\bp)
        ret
        .endm

/*
 * Prints the u32 (u64 with `wide`) at FIELD of the context: in 8-digit
 * halves (32-bit code), or in as few digits as it takes (IA-32e).
 */
        .macro PUT w, field, wide=0
        .if \w == 64
        .if \wide
        mov \field(%rbp), %rax
        .else
        movl \field(%rbp), %eax
        .endif
        call puthexs64
        .else
        .if \wide
        mov \field + 4(%ebp), %eax
        call puthex32
        .endif
        mov \field(%ebp), %eax
        call puthex32
        .endif
        .endm

/* flushW: prints the current run as an `o` line, if any; keeps every register. */
        .macro FLUSH_RUN w, ax, bp
flush\w:
        cmpl $0, C_RUN_PAGES(\bp)
        je 1f
        push \ax
        mov $'o', %al
        call putc\w
        call space\w
        PUT \w, C_RUN_VIRT, wide=1
        call space\w
        PUT \w, C_RUN_PAGES
        call space\w
        PUT \w, C_RUN_FLAGS
        call space\w
        PUT \w, C_RUN_VALUE, wide=1
        call newline\w
        movl $0, C_RUN_PAGES(\bp)
        pop \ax
1:      ret
        .endm

/*
 * What each paging path has beside its probes: the ring-3 code (a round
 * trip, and a read of the page at SI), the exception handlers, the console
 * routines, the run printer and the IDT's handler offsets.
 */
        .macro PATH_RUNTIME w, ax, cx, dx, si, sp, bp, word, iret, digits
user_return_now\w:
        int $VEC_USER_RETURN
user_read\w:
        mov (\si), \cx
        int $VEC_USER_RETURN

        EXCEPTION_HANDLERS \w, \ax, \sp, \bp, \word, \iret

        CONSOLE_ROUTINES \w, \ax, \cx, \dx, \digits

        FLUSH_RUN \w, \ax, \bp

idt\w\()_offsets:
        IDT_OFFSETS \w
        .endm

/* The IDT's handlers by vector, as offsets in the image (the gates are built at run time). */
        .macro IDT_OFFSETS w
        .irp vec, 0,1
        .word trap\w\()_\vec - image_start
        .endr
        .word nmi\w - image_start
        .irp vec, 3,4,5,6,7,8,9,10,11,12,13
        .word trap\w\()_\vec - image_start
        .endr
        .word page_fault\w - image_start
        .irp vec, 15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .word trap\w\()_\vec - image_start
        .endr
        .word user_return\w - image_start
        .endm

/* ---------------------------------------------------------------------------
 * 32-bit and PAE paging, running at the dual alias (or identity).
 */
main32:
        call 1f
1:      pop %eax
        sub $(1b - image_start), %eax
        push %eax
        mov $'e', %al
        call putc32
        call space32
        xor %eax, %eax
        call puthex32
        pop %eax
        call puthex32
        call newline32
        mov $SEL_USER_DATA, %eax        /* data segments usable at CPL 3 as well */
        mov %eax, %ds
        mov %eax, %es
        CHOOSE_USER_CHECK 32, %eax, %ebp
        PROBE_RUNS 32, %ecx, %esi, %edi, %ebp
        PAUSE_FOR_HOST 32, %ebp
        mov C_IDBASE(%ebp), %eax        /* back to the identity mapping to turn paging off */
        add $(leave32 - image_start), %eax
        jmp *%eax
leave32:
        mov %cr0, %eax
        and $~CR0_PG, %eax
        mov %eax, %cr0
        xor %eax, %eax
        mov %eax, %cr4
        jmp *C_HOME_RET(%ebp)

/* Probes the page at esi; keeps esi. */
probe_page32:
        RESUME_AT 32, 1f
        mov (%esi), %eax
        mov 4(%esi), %edx
1:      PROBE_DONE 32
        cmpl $0, C_FAULTED(%ebp)
        je 2f
        mov C_ERR(%ebp), %eax
        xor %edx, %edx
        xor %ecx, %ecx
        jmp record32
2:      mov %eax, C_OBS_VALUE(%ebp)
        mov %edx, C_OBS_VALUE + 4(%ebp)
        movl $O_READ, C_OBS_FLAGS(%ebp)
        PROBE_FLAG 32, %ecx, %esi, %ebp, O_WRITE
        PROBE_USER 32, %eax, %ecx, %esi, %ebp
        mov C_OBS_VALUE + 4(%ebp), %eax /* a signature was read: the page's `ret` can be called */
        shr $16, %eax
        cmp $SIG_TAG, %eax
        jne 3f
        orl $O_SIGNED, C_OBS_FLAGS(%ebp)
        PROBE_FLAG 32, %ecx, %esi, %ebp, O_EXEC
3:      mov C_OBS_FLAGS(%ebp), %ecx
        mov C_OBS_VALUE(%ebp), %eax
        mov C_OBS_VALUE + 4(%ebp), %edx
        /* fall through */
        RECORD_PAGE 32, %esi, %ebp



        PATH_RUNTIME 32, %eax, %ecx, %edx, %esi, %esp, %ebp, 4, iret, 8

/* ---------------------------------------------------------------------------
 * IA-32e mode.
 */
        .code64
entry64:
        mov %ebp, %ebp                  /* upper halves are undefined after the mode switch */
        mov %ebx, %ebx
        mov %esp, %esp
        call load_idt64
        JMP_AT C_BASE, main64          /* on through the dual mapping */

/* At the case's code page, which both the stub's tables and the case's map to itself. */
switch_long:
        mov C_CR3(%rbp), %rax
        mov %rax, %cr3
        JMP_AT C_BASE, main64


/* IDT gates for IA-32e mode (16 bytes each, handlers at the running base), then IDT and TSS loaded. */
load_idt64:
        lea idt64_offsets(%rip), %rsi
        lea C_IDT(%rbp), %rdi
        xor %ecx, %ecx
1:      movzwl (%rsi,%rcx,2), %eax
        add C_BASE(%rbp), %rax
        mov %rcx, %rdx
        shl $4, %rdx
        mov %rax, %r8
        shr $32, %r8
        mov %r8, 8(%rdi,%rdx)
        mov %eax, %r8d
        and $0xffff, %r8d
        or $(SEL_CODE64 << 16), %r8d
        mov %r8d, (%rdi,%rdx)
        and $0xffff0000, %eax
        or $0x8e00, %eax
        cmp $VEC_USER_RETURN, %ecx
        jne 2f
        or $0x6000, %eax
2:      mov %eax, 4(%rdi,%rdx)
        inc %ecx
        cmp $IDT_VECTORS, %ecx
        jb 1b
        movw $(IDT_VECTORS * 16 - 1), C_IDTR(%rbp)
        mov %rdi, C_IDTR + 2(%rbp)
        lidt C_IDTR(%rbp)
        mov $SEL_TSS, %eax
        ltr %ax
        ret

main64:
        lea main64(%rip), %rax
        sub $(main64 - image_start), %rax
        push %rax
        mov $'e', %al
        call putc64
        call space64
        pop %rax
        call puthex64
        call newline64
        CHOOSE_USER_CHECK 64, %rax, %rbp
        PROBE_RUNS 64, %rcx, %rsi, %rdi, %rbp
        PAUSE_FOR_HOST 64, %rbp
        JMP_AT C_IDBASE, leave64        /* back to the identity mapping, then to 32-bit code */
leave64:
        testl $F_LONG, C_FLAGS(%rbp)
        jz 1f
        movl C_STUB_CR3(%rbp), %eax     /* F_LONG: the stub's tables map this page as well */
        mov %rax, %cr3
        movl C_HOME64(%rbp), %eax
        jmp *%rax
1:      mov C_IDBASE(%rbp), %rax        /* flat data segments: a trap from ring 3 left SS null, which 32-bit code cannot use */
        add $(leave_compat - image_start), %rax
        TO_COMPAT
        .code32
leave_compat:
        LEAVE_IA32E
        jmp *C_HOME_RET(%ebp)
        .code64

probe_page64:
        RESUME_AT 64, 1f
        mov (%rsi), %rdx
1:      PROBE_DONE 64
        cmpl $0, C_FAULTED(%rbp)
        je 2f
        movl C_ERR(%rbp), %edx
        xor %ecx, %ecx
        jmp record64
2:      mov %rdx, C_OBS_VALUE(%rbp)
        movl $O_READ, C_OBS_FLAGS(%rbp)
        PROBE_FLAG 64, %rcx, %rsi, %rbp, O_WRITE
        PROBE_USER 64, %rax, %rcx, %rsi, %rbp
        mov C_OBS_VALUE(%rbp), %rax     /* a signature was read: the page's `ret` can be called */
        shr $48, %rax
        cmp $SIG_TAG, %eax
        jne 3f
        orl $O_SIGNED, C_OBS_FLAGS(%rbp)
        PROBE_FLAG 64, %rcx, %rsi, %rbp, O_EXEC
3:      movl C_OBS_FLAGS(%rbp), %ecx
        mov C_OBS_VALUE(%rbp), %rdx
        /* fall through */
        RECORD_PAGE 64, %rsi, %rbp



        PATH_RUNTIME 64, %rax, %rcx, %rdx, %rsi, %rsp, %rbp, 8, iretq, 16

/* Everything before this point runs at the case's code page as well; the stub copies only that much there. */
runner_end:

        .code32
/* ---------------------------------------------------------------------------
 * Home: runs at the multiboot load address with paging off.
 */
home_entry:
        cli
        cld
        call 1f
1:      pop %ebx
        sub $(1b - image_start), %ebx
        lea (image_end - image_start + HOME_STACK_BYTES)(%ebx), %esp
        lea (gdt_template - image_start)(%ebx), %eax
        mov %eax, (home_gdtr + 2 - image_start)(%ebx)
        call home_segments
        /* The host resumes a halted case with an NMI: route LINT1 as NMI and enable the APIC. */
        movl $0x1ff, 0xfee000f0
        movl $0x400, 0xfee00360
        mov (staging_ptr - image_start)(%ebx), %esi
        cmpl $STAGING_MAGIC, S_MAGIC(%esi)
        jne bad_staging
        mov S_COUNT(%esi), %ecx
        mov S_CASES(%esi), %edi
        xor %edx, %edx
case_loop:
        cmp %ecx, %edx
        jae all_done
        push %ecx
        push %edx
        push %edi
        mov $'c', %al
        call putc32
        call space32
        mov %edx, %eax
        call puthex32
        call newline32
        call run_case
        pop %edi
        testl $F_TABLE_DIFF, D_FLAGS(%edi)
        jz 1f
        call table_diff
1:      pop %edx
        pop %ecx
        add $D_BYTES, %edi
        inc %edx
        jmp case_loop
all_done:
        mov $'z', %al
        call putc32
        call newline32
        mov $EXIT_DONE, %al
        out %al, $PORT_EXIT
        hlt
bad_staging:
        mov $EXIT_BAD_STAGING, %al
        out %al, $PORT_EXIT
        hlt

/*
 * With F_TABLE_DIFF: prints "a PHYS XOR" for each dword of the tables the
 * case changed (edi = descriptor; the staging copy is the original), except
 * accessed/dirty bits set by walks outside the top table's first 32 bytes:
 * those are architectural and would cost a line per page.
 */
table_diff:
        mov D_TABLES_PHYS(%edi), %esi
        mov D_TABLES_SRC(%edi), %edx
        mov D_TABLES_LEN(%edi), %ecx
        shr $2, %ecx
1:      test %ecx, %ecx
        jz 3f
        mov (%esi), %eax
        xor (%edx), %eax
        jz 2f
        test $0xffffff9f, %eax          /* more than A/D changed: list it */
        jnz 4f
        mov %esi, %ebp                  /* A/D alone only in the top table's first 32 bytes (the PAE PDPTEs have no A) */
        sub D_CR3(%edi), %ebp
        cmp $32, %ebp
        jae 2f
4:      push %eax
        mov $'a', %al
        call putc32
        call space32
        mov %esi, %eax
        call puthex32
        call space32
        pop %eax
        call puthex32
        call newline32
2:      add $4, %esi
        add $4, %edx
        dec %ecx
        jmp 1b
3:      ret

/* Loads the home GDT and flat ring-0 segments (ebx = load address). */
home_segments:
        lgdt (home_gdtr - image_start)(%ebx)
        pop %ecx                        /* return address */
        pushl $SEL_CODE32
        push %ecx
        FLAT_DATA all=1
        lret

/* One case (edi = descriptor, ebx = load address); returns through case_return (or case_resume). */
run_case:
        testl $F_LONG, D_FLAGS(%edi)
        jnz run_case_long
        PREPARE_CASE %eax, %ebx, %edx, %esi, %edi, %ebp
        mov %esp, C_HOME_SP(%ebp)
        mov D_CODE(%edi), %eax
        add $(runner_entry - image_start), %eax
        jmp *%eax

/* Back from a case with paging off (ebp = context). */
case_return:
        mov C_HOME_SP(%ebp), %esp
case_resume:                            /* the home stack already in esp */
        call 1f
1:      pop %ebx
        sub $(1b - image_start), %ebx
        call home_segments
        ret

/*
 * F_LONG: the case is prepared in IA-32e mode under the stub's own identity
 * map (edi = descriptor, ebx = load address), then run from there.
 */
run_case_long:
        mov (staging_ptr - image_start)(%ebx), %esi
        mov $CR4_PAE, %eax
        mov %eax, %cr4
        ENTER_IA32E S_STUB_CR3(%esi), CR0_PG, prepare_long

        .code64
prepare_long:
        mov %ebx, %ebx                  /* upper halves are undefined after the mode switch */
        mov %edi, %edi
        mov %esp, %esp
        PREPARE_CASE %rax, %rbx, %rdx, %rsi, %rdi, %rbp
        mov %esp, C_HOME_SP(%rbp)
        mov %cr3, %rax
        mov %eax, C_STUB_CR3(%rbp)
        lea (home_long_return - image_start)(%rbx), %eax
        mov %eax, C_HOME64(%rbp)
        cmpl $MODE_IA32E, C_MODE(%rbp)
        je setup_long
        lea prepared32(%rip), %rax      /* 32-bit or PAE paging: code and context lie below 4 GiB */
        TO_COMPAT
        .code32
prepared32:
        LEAVE_IA32E
        mov D_CODE(%edi), %eax
        add $(runner_entry - image_start), %eax
        jmp *%eax

        .code64
/* An IA-32e case: descriptor tables and control registers set here, then CR3 switched at its code page. */
setup_long:
        mov D_CODE(%rdi), %rax
        mov %rax, C_IDBASE(%rbp)
        add D_DELTA(%rdi), %rax
        mov %rax, C_BASE(%rbp)
        CASE_GDT 64, %rax, %rbx, %rsi, %rdi, %rbp
        lea 1f(%rip), %rax
        pushq $SEL_CODE64
        push %rax
        lretq
1:      FLAT_DATA
        call load_idt64
        mov %cr4, %rax
        testl $F_SMAP, C_FLAGS(%rbp)
        jz 2f
        or $CR4_SMAP, %rax
2:      mov %rax, %cr4
        mov %cr0, %rax
        or $CR0_WP, %rax
        mov %rax, %cr0
        lea C_STACK_TOP(%rbp), %rsp
        JMP_AT C_IDBASE, switch_long
/* Back from an F_LONG IA-32e case, under the stub's tables: home, paging off. */
home_long_return:
        mov C_HOME_SP(%rbp), %esp
        lea home_compat_return(%rip), %rax
        TO_COMPAT
        .code32
home_compat_return:
        LEAVE_IA32E
        jmp case_resume

        .balign 16
image_end:
