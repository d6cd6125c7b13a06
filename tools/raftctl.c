/* raftctl: the operator's command-line client of a raftnode cluster (DESIGN.md, "Operator
 * interface"; usage: raftctl --help). Everything but main lives in tools/raftctl_*.c. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "raftctl_call.h"
#include "raftctl_output.h"

int main(int argc, char **argv)
{
    /* A member closing its connection mid-write must give EPIPE, not kill raftctl. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        raftctl_errf("cannot ignore SIGPIPE: %s", strerror(errno));
        return 1;
    }
    return raftctl_main(argc, argv, getenv("RAFTCTL_ENDPOINTS"));
}
