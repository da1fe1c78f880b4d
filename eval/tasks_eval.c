/* tasks_eval — requests, loglikelihoods and metrics of a task (see tasks_eval.h). */
#include "eval/tasks_eval.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

double task_stderr(double p, int n) { return n > 1 ? sqrt(p * (1.0 - p) / (n - 1)) : 0.0; }

static int encode(const Tokenizer *tok, const char *s, size_t len, bool bos, int32_t **ids, size_t *n) {
    return tokenizer_encode(tok, s, len, bos, ids, n);
}

/* The harness's pair: ctx_enc + whole[len(ctx_enc):]; *from = len(ctx_enc). */
static int harness_pair(const Tokenizer *tok, const char *ctx, const char *cont, bool bos, int32_t **seq, int *len,
                        int *from) {
    size_t cl = strlen(ctx), kl = strlen(cont);
    size_t keep = cl;
    while (keep > 0 && strchr(" \t\n\r\f\v", ctx[keep - 1])) keep--; /* context.rstrip() */
    char *whole_s = xmalloc(cl + kl + 1);
    memcpy(whole_s, ctx, cl);
    memcpy(whole_s + cl, cont, kl + 1);
    int32_t *whole = NULL, *ce = NULL;
    size_t nw = 0, nc = 0;
    int rc = encode(tok, whole_s, cl + kl, bos, &whole, &nw);
    if (rc == 0) rc = encode(tok, ctx, keep, bos, &ce, &nc);
    free(whole_s);
    if (rc == 0 && nw <= nc) rc = err_set("continuation \"%.40s\" has no tokens of its own", cont);
    if (rc == 0 && nc == 0) rc = err_set("context \"%.40s\" has no tokens", ctx);
    if (rc == 0) {
        *seq = xmalloc(nw * sizeof **seq);
        memcpy(*seq, ce, nc * sizeof *ce);
        memcpy(*seq + nc, whole + nc, (nw - nc) * sizeof *whole);
        *len = (int)nw;
        *from = (int)nc;
    }
    free(whole);
    free(ce);
    return rc;
}

/* Keep the last max_len tokens of an over-long sequence (the scored span keeps position >= 1). */
static void truncate_left(int32_t *seq, int *len, int *from, int max_len) {
    if (*len <= max_len) return;
    int cut = *len - max_len;
    memmove(seq, seq + cut, (size_t)max_len * sizeof *seq);
    *len = max_len;
    *from = *from - cut < 1 ? 1 : *from - cut;
}

static int argmax(const double *v, int n) {
    int best = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

int task_evaluate(Forward *f, const Tokenizer *tok, const TaskSet *s, const TaskEvalOptions *opt, TaskAccuracy *r,
                  TaskItemScore *scores) {
    const TaskDef *d = s->def;
    bool cpp = d->scoring == TASK_SCORE_LLAMACPP;
    int n_req = 0;
    for (int i = 0; i < s->n; i++) n_req += s->items[i].n_choices;
    LoglikSeq *req = xcalloc((size_t)(n_req ? n_req : 1), sizeof *req);
    int32_t **own = xcalloc((size_t)(n_req ? n_req : 1), sizeof *own);
    double *ll = xmalloc((size_t)(n_req ? n_req : 1) * sizeof *ll);
    int rc = 0, q = 0;
    for (int i = 0; i < s->n && rc == 0; i++) {
        const TaskItem *it = &s->items[i];
        int q0 = q;
        for (int k = 0; k < it->n_choices && rc == 0; k++, q++) {
            int len = 0, from = 0;
            if (cpp) {
                size_t cl = strlen(it->ctx[k]), kl = strlen(it->cont[k]), nw = 0;
                char *w = xmalloc(cl + kl + 1);
                memcpy(w, it->ctx[k], cl);
                memcpy(w + cl, it->cont[k], kl + 1);
                rc = encode(tok, w, cl + kl, true, &own[q], &nw);
                free(w);
                len = (int)nw;
            } else {
                rc = harness_pair(tok, it->ctx[k], it->cont[k], opt->bos, &own[q], &len, &from);
            }
            if (rc) err_prefix("%s:%d: choice %d", d->file, it->line, k + 1);
            req[q] = (LoglikSeq){own[q], len, from};
        }
        if (rc == 0 && cpp) { /* the scored part starts after the choices' common prefix */
            int common = req[q0].len;
            for (int k = 1; k < it->n_choices; k++) {
                int c = 0;
                while (c < common && c < req[q0 + k].len && req[q0 + k].tokens[c] == req[q0].tokens[c]) c++;
                common = c;
            }
            for (int k = 0; k < it->n_choices; k++) req[q0 + k].from = common > 1 ? common : 1;
        }
        for (int k = 0; rc == 0 && k < it->n_choices; k++) {
            LoglikSeq *sq = &req[q0 + k];
            truncate_left(own[q0 + k], &sq->len, &sq->from, opt->max_seq_len);
        }
    }
    if (rc == 0) rc = loglik_score(f, req, n_req, opt->max_tokens, ll, opt->progress, opt->progress_ud);
    if (rc == 0) {
        double hit = 0, hit_norm = 0;
        q = 0;
        for (int i = 0; i < s->n; i++) {
            const TaskItem *it = &s->items[i];
            double v[TASK_MAX_CHOICES], vn[TASK_MAX_CHOICES];
            TaskItemScore sc = {0};
            for (int k = 0; k < it->n_choices; k++, q++) {
                int nt = req[q].len - req[q].from;
                sc.n_tok[k] = nt;
                v[k] = cpp ? (nt > 0 ? ll[q] / nt : -INFINITY) : ll[q];
                vn[k] = it->choice_len[k] > 0 ? ll[q] / it->choice_len[k] : -INFINITY;
                sc.ll[k] = v[k];
            }
            sc.pred = argmax(v, it->n_choices);
            sc.pred_norm = argmax(vn, it->n_choices);
            hit += sc.pred == it->gold;
            hit_norm += sc.pred_norm == it->gold;
            if (scores) scores[i] = sc;
        }
        r->n = s->n;
        r->acc = s->n ? hit / s->n : 0.0;
        r->acc_se = task_stderr(r->acc, s->n);
        r->acc_norm = d->acc_norm && s->n ? hit_norm / s->n : NAN;
        r->acc_norm_se = d->acc_norm ? task_stderr(r->acc_norm, s->n) : NAN;
    }
    for (int i = 0; i < n_req; i++) free(own[i]);
    free(own);
    free(req);
    free(ll);
    return rc;
}
