/*
 * Preloaded into a process (LD_PRELOAD), makes it see the CPU without AVX-512.
 *
 * ONNX Runtime's MLAS kernels, and the cpuinfo library beside them, choose their instruction set
 * from the CPUID instruction and offer no switch, unlike PyTorch (ATEN_CPU_CAPABILITY) and oneDNN
 * (ONEDNN_MAX_CPU_ISA). `experiments/compare --isa avx2` therefore runs ONNX Runtime with this
 * library: it asks Linux to make CPUID fault in this process (ARCH_SET_CPUID, which needs a CPU or
 * hypervisor with CPUID faulting: the `cpuid_fault` flag in /proc/cpuinfo) and answers each
 * faulting CPUID itself, with the AVX-512 feature bits cleared. CPUID runs a handful of times
 * while libraries start, so the cost is nil once the model runs.
 *
 *     cc -shared -fPIC -O2 -o cpuid_avx2.so cpuid_avx2.c
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* Leaf 7, sub-leaf 0. EBX: F, DQ, IFMA, PF, ER, CD, BW, VL. */
#define AVX512_EBX ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | \
                    (1u << 30) | (1u << 31))
/* ECX: VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ. */
#define AVX512_ECX ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
/* EDX: 4VNNIW, 4FMAPS, VP2INTERSECT, FP16. */
#define AVX512_EDX ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
/* Leaf 7, sub-leaf 1. EAX: BF16. */
#define AVX512_LEAF7_1_EAX (1u << 5)

static long cpuid_enabled(int enabled) {
    return syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled);
}

static void answer_cpuid(int signal_number, siginfo_t *info, void *context) {
    (void)info;
    greg_t *regs = ((ucontext_t *)context)->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)regs[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) {
        /* A real fault: let it end the process as it would have without this library. */
        signal(signal_number, SIG_DFL);
        return;
    }
    uint32_t leaf = (uint32_t)regs[REG_RAX], sub_leaf = (uint32_t)regs[REG_RCX];
    uint32_t a, b, c, d;
    cpuid_enabled(1);
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(sub_leaf));
    cpuid_enabled(0);
    if (leaf == 7 && sub_leaf == 0) {
        b &= ~AVX512_EBX;
        c &= ~AVX512_ECX;
        d &= ~AVX512_EDX;
    } else if (leaf == 7 && sub_leaf == 1) {
        a &= ~AVX512_LEAF7_1_EAX;
    }
    /* CPUID writes the 32-bit registers, which clears their upper halves. */
    regs[REG_RAX] = a;
    regs[REG_RBX] = b;
    regs[REG_RCX] = c;
    regs[REG_RDX] = d;
    regs[REG_RIP] += 2;
}

__attribute__((constructor)) static void hide_avx512(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = answer_cpuid;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, NULL) != 0 || cpuid_enabled(0) != 0) {
        /* Running with AVX-512 while the caller asked for none would be a wrong measurement. */
        fprintf(stderr, "cpuid_avx2: cannot make CPUID fault on this machine (ARCH_SET_CPUID): %s\n",
                strerror(errno));
        _exit(70);
    }
}
