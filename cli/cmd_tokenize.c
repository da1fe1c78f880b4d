/* cmd_tokenize — being written. */
#include "cli/cli.h"
int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; return cli_usage_error("tokenize", "not yet available"); }
