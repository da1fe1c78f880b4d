/* loglik — batched continuation loglikelihoods over forward_token_logprobs (see loglik.h). */
#include "eval/loglik.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

static const LoglikSeq *sort_seqs; /* qsort has no context argument; calls are not concurrent */

static int by_len_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int li = sort_seqs[i].len, lj = sort_seqs[j].len;
    return li != lj ? (lj > li) - (lj < li) : (i > j) - (i < j);
}

int loglik_score(Forward *f, const LoglikSeq *seqs, int n, int max_tokens, double *ll, LoglikProgress progress,
                 void *ud) {
    for (int i = 0; i < n; i++)
        if (seqs[i].len < 1 || seqs[i].from < 1 || seqs[i].from > seqs[i].len)
            return err_set("loglik: sequence %d: scored span [%d, %d) is invalid", i, seqs[i].from, seqs[i].len);
    if (n == 0) return 0;
    int *order = xmalloc((size_t)n * sizeof *order);
    for (int i = 0; i < n; i++) order[i] = i;
    sort_seqs = seqs;
    qsort(order, (size_t)n, sizeof *order, by_len_desc);
    int T_max = seqs[order[0]].len;
    int cap = max_tokens > T_max ? max_tokens : T_max;
    int32_t *buf = xmalloc((size_t)cap * sizeof *buf);
    int *from = xmalloc((size_t)cap * sizeof *from), *to = xmalloc((size_t)cap * sizeof *to);
    double *lp = xmalloc((size_t)cap * sizeof *lp);
    int rc = 0;
    for (int i = 0; i < n && rc == 0;) {
        int T = seqs[order[i]].len, B = max_tokens / T;
        if (B < 1) B = 1;
        if (B > n - i) B = n - i;
        for (int b = 0; b < B; b++) {
            const LoglikSeq *s = &seqs[order[i + b]];
            assert(s->len <= T);
            memcpy(buf + (size_t)b * T, s->tokens, (size_t)s->len * sizeof *buf);
            for (int t = s->len; t < T; t++) buf[(size_t)b * T + t] = s->tokens[s->len - 1]; /* padding */
            from[b] = s->from;
            to[b] = s->len;
        }
        rc = forward_token_logprobs(f, buf, B, T, from, to, lp);
        for (int b = 0; rc == 0 && b < B; b++) {
            double sum = 0.0;
            for (int t = from[b]; t < to[b]; t++) sum += lp[(size_t)b * T + t];
            ll[order[i + b]] = sum;
        }
        i += B;
        if (rc == 0 && progress) progress(ud, i, n);
    }
    free(order);
    free(buf);
    free(from);
    free(to);
    free(lp);
    return rc;
}
