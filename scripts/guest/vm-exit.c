/* vm-exit RC: leave qemu through the isa-debug-exit device at port 0xf4.
 * qemu then exits with status (RC << 1) | 1. The cloud kernel has no /dev/port, so we
 * take the I/O port directly (needs CAP_SYS_RAWIO; /init runs as root). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

int main(int argc, char **argv) {
    unsigned rc = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 0;
    if (ioperm(0xf4, 4, 1) != 0) {
        perror("vm-exit: ioperm");
        return 1;
    }
    outl(rc, 0xf4);
    /* Only reached without an isa-debug-exit device. */
    fprintf(stderr, "vm-exit: no isa-debug-exit device at 0xf4\n");
    return 1;
}
