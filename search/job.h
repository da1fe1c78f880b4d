/* job — one run of `carve search`: opens the model, tokenizer and texts its config names,
 * builds the fitness (calibration perplexity of a subnet over the sampled windows, through
 * one eval/evaluator.h Evaluator) and the final step (reformation when enabled, then held-out perplexity),
 * creates the run in the results database or resumes it, and runs the engine.
 * Owns: the glue between config, model, evaluator, store and engine. */
#ifndef CARVE_JOB_H
#define CARVE_JOB_H

#include <stdbool.h>
#include <stdio.h>

#include "search/config.h"

typedef struct {
    bool quiet;     /* no progress lines */
    bool dry_run;   /* validate and print the plan; evaluate nothing, write nothing */
} JobOptions;

/* Run (or resume, or skip when already complete) one configured run. config_text is the
 * YAML file's text, stored with the run. */
int job_run(const SearchConfig *cfg, const char *config_text, const JobOptions *opt, FILE *out);

#endif
