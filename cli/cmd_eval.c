/* cmd_eval — being written. */
#include "cli/cli.h"
int cmd_eval(int argc, char **argv) { (void)argc; (void)argv; return cli_usage_error("eval", "not yet available"); }
