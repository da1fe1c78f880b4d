/* mpi_pool — rank 0's dynamic task queue over MPI ranks and the other ranks' serve loop
 * (see mpi_pool.h). Messages, all on MPI_COMM_WORLD:
 *   TAG_TASK   0 -> k: TaskHead + the subnet's JSON (NUL-terminated)
 *   TAG_RESULT k -> 0: ResultHead + the error text when rc != 0 (NUL-terminated)
 *   TAG_STOP   0 -> k: empty; k returns from mpi_pool_serve
 * Invariant: rank 0 sends a rank at most one task at a time (a rank is busy until its result
 * arrives), so every send meets a rank that is waiting for it. */
#include "search/mpi/mpi_pool.h"

#include <assert.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/util.h"

enum { TAG_TASK = 1, TAG_RESULT = 2, TAG_STOP = 3, TAG_ERROR = 4 };

typedef struct {
    int32_t kind, reform, index, stage;
} TaskHead;

typedef struct {
    int32_t index, rc;
    TaskResult r;
} ResultHead;

static int g_started, g_rank, g_size = 1, g_thread;
/* Window groups (mpi_pool_groups): this rank's group, its rank in it and the group size. */
static MPI_Comm g_group = MPI_COMM_NULL;
static int g_grank, g_gsize = 1;

int mpi_rank(void) { return g_rank; }
int mpi_size(void) { return g_size; }

/* Sleep between polls: short at first, then up to 1 ms (an idle rank costs next to nothing,
 * a busy exchange is answered within microseconds). */
static void backoff(int *round) {
    long ns = *round < 20 ? 20000L : 1000000L;
    (*round)++;
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static void wait_req(MPI_Request *req) {
    int done = 0, round = 0;
    for (;;) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        backoff(&round);
    }
}

static volatile sig_atomic_t g_resumable; /* mpi_stop_resumable */
static volatile sig_atomic_t g_ending;    /* in mpi_end: the command has said what it had to say */

void mpi_stop_resumable(void) { g_resumable = 1; }

/* Rank 0 when the launcher stops the job (a rank died, or the job was killed): one line. */
static void on_term(int sig) {
    (void)sig;
    if (g_ending) _exit(3); /* the launcher stops a job that is ending (another rank's exit status): no news */
    static const char msg[] = "carve: the MPI job was stopped (a rank died or the job was killed)";
    static const char resume[] = "; the database keeps every committed generation: run the same command to resume";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    if (g_resumable) w = write(STDERR_FILENO, resume, sizeof resume - 1);
    w = write(STDERR_FILENO, "\n", 1);
    (void)w;
    _exit(3);
}

int mpi_start(int *argc, char ***argv) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return err_set("MPI: MPI_Init_thread failed");
    g_started = 1;
    g_thread = provided;
    if (provided < MPI_THREAD_FUNNELED) return err_set("MPI: the library does not allow threads (MPI_THREAD_FUNNELED)");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (g_rank == 0 && g_size > 1) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
    }
    return 0;
}

int mpi_pool_groups(int group) {
    if (g_group != MPI_COMM_NULL) MPI_Comm_free(&g_group);
    g_grank = 0, g_gsize = 1;
    int G = group <= 0 ? g_size : group;
    if (G > g_size || g_size % G)
        return err_set("parallel: group %d does not divide the %d MPI ranks into equal groups", group, g_size);
    if (G > 1 && g_thread < MPI_THREAD_MULTIPLE)
        return err_set("parallel: window groups need an MPI library with MPI_THREAD_MULTIPLE");
    if (G == 1) return 0;
    MPI_Comm_split(MPI_COMM_WORLD, g_rank / G, g_rank, &g_group);
    MPI_Comm_rank(g_group, &g_grank);
    MPI_Comm_size(g_group, &g_gsize);
    return 0;
}

void mpi_end(void) {
    g_ending = 1;
    if (g_group != MPI_COMM_NULL) MPI_Comm_free(&g_group);
    if (g_started) MPI_Finalize();
    g_started = 0;
}

/* mpi_agree over communicator c, whose rank k is world rank base + k (me: this rank in c). */
static int agree_on(MPI_Comm c, int me, int size, int base, int rc) {
    if (size == 1) return rc ? -1 : 0;
    int mine = rc ? me : size, first = size;
    MPI_Request req;
    MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c, &req);
    wait_req(&req);
    if (first == size) return 0;
    if (first != 0) { /* the first failing rank's message goes to rank 0 of c */
        char msg[1024];
        if (me == first) {
            snprintf(msg, sizeof msg, "%s", err_get()[0] ? err_get() : "failed");
            MPI_Isend(msg, (int)strlen(msg) + 1, MPI_CHAR, 0, TAG_ERROR, c, &req);
            wait_req(&req);
        } else if (me == 0) {
            MPI_Irecv(msg, sizeof msg, MPI_CHAR, first, TAG_ERROR, c, &req);
            wait_req(&req);
            msg[sizeof msg - 1] = 0;
            err_set("rank %d: %s", base + first, msg);
        }
    }
    if (!rc && me != 0) err_set("rank %d failed", base + first);
    return -1;
}

int mpi_agree(int rc) { return agree_on(MPI_COMM_WORLD, g_rank, g_size, 0, rc); }

/* EvalSplit.combine over the window group: every entry has one owner (the others hold zeros),
 * so the sums are exact in any reduction order. The statuses first: on a failure no sums move
 * (a member that failed before scoring calls it with nb = 0). */
static int split_combine(void *ud, int rc, double *nll, int64_t *n, int nb) {
    (void)ud;
    if (agree_on(g_group, g_grank, g_gsize, g_rank - g_grank, rc)) return -1;
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, nll, nb, MPI_DOUBLE, MPI_SUM, g_group, &req);
    wait_req(&req);
    MPI_Iallreduce(MPI_IN_PLACE, n, nb, MPI_INT64_T, MPI_SUM, g_group, &req);
    wait_req(&req);
    return 0;
}

const EvalSplit *mpi_window_split(void) {
    static EvalSplit split;
    if (g_gsize <= 1) return NULL;
    split = (EvalSplit){g_grank, g_gsize, split_combine, NULL};
    return &split;
}

/* ImpSplit.combine over all ranks: the statuses, then the sums (one owner per entry: exact). */
static int world_combine(void *ud, int rc, double *v, int64_t n) {
    (void)ud;
    if (agree_on(MPI_COMM_WORLD, g_rank, g_size, 0, rc)) return -1;
    for (int64_t at = 0; at < n;) {
        int k = n - at > (1 << 30) ? 1 << 30 : (int)(n - at);
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, v + at, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req);
        wait_req(&req);
        at += k;
    }
    return 0;
}

const ImpSplit *mpi_layer_split(void) {
    static ImpSplit split;
    if (g_size <= 1) return NULL;
    split = (ImpSplit){g_rank, g_size, world_combine, NULL};
    return &split;
}

void mpi_bcast_int(int *v) {
    if (g_size == 1) return;
    MPI_Request req;
    MPI_Ibcast(v, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
    wait_req(&req);
}

/* ---- rank 0: one batch ---- */

typedef struct {
    MpiPool *p;
    TaskKind kind;
    bool reform;
    int stage;
    const Subnet *const *s;
    int n;
    TaskResult *out;
    pthread_mutex_t mu;
    int next;       /* the next task to hand out */
    int failed;     /* a task failed: hand out no more */
    char err[1024]; /* the first failure */
} Batch;

static void batch_fail(Batch *b, int rank, const char *msg) {
    pthread_mutex_lock(&b->mu);
    if (!b->failed) snprintf(b->err, sizeof b->err, "rank %d: %s", rank, msg[0] ? msg : "failed");
    b->failed = 1;
    pthread_mutex_unlock(&b->mu);
}

static int take(Batch *b) {
    pthread_mutex_lock(&b->mu);
    int i = !b->failed && b->next < b->n ? b->next++ : -1;
    pthread_mutex_unlock(&b->mu);
    return i;
}

/* A task as a message: TaskHead + the subnet's JSON. */
static char *task_message(const MpiPool *p, TaskKind kind, bool reform, int stage, int index, const Subnet *sub,
                          int *len) {
    char *json = subnet_to_json(sub, p->m);
    size_t jl = strlen(json) + 1;
    char *buf = xmalloc(sizeof(TaskHead) + jl);
    TaskHead h = {(int32_t)kind, reform, index, stage};
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, json, jl);
    free(json);
    *len = (int)(sizeof h + jl);
    return buf;
}

/* Run a task message here (every member of a group runs it: the window sums inside are the
 * group's collective calls). *index: the task's index. */
static int run_message(MpiPool *p, const char *buf, int len, int *index, TaskResult *out) {
    TaskHead h;
    if ((size_t)len < sizeof h) return err_set("MPI: short task message (%d bytes)", len);
    memcpy(&h, buf, sizeof h);
    *index = h.index;
    Subnet *s = NULL;
    int rc = subnet_from_json(buf + sizeof h, p->m, "MPI task", &s);
    if (!rc) rc = p->task(p->ud, (TaskKind)h.kind, h.reform != 0, h.stage, s, out);
    subnet_free(s);
    return rc;
}

/* A group leader: hand the message to the group's other members (len 0: stop). */
static void group_send(const char *buf, int len) {
    MPI_Request req;
    MPI_Ibcast(&len, 1, MPI_INT, 0, g_group, &req);
    wait_req(&req);
    if (len == 0) return;
    MPI_Ibcast((void *)buf, len, MPI_BYTE, 0, g_group, &req);
    wait_req(&req);
}

/* A leader's task: to its group, then here. */
static int lead_task(MpiPool *p, const char *buf, int len, int *index, TaskResult *out) {
    if (g_gsize > 1) group_send(buf, len);
    return run_message(p, buf, len, index, out);
}

/* Rank 0's own share, on a second thread (MPI calls only on the group communicator). */
static void *local_scorer(void *arg) {
    Batch *b = arg;
    for (int i; (i = take(b)) >= 0;) {
        int rc;
        if (g_gsize > 1) {
            int len, index;
            char *buf = task_message(b->p, b->kind, b->reform, b->stage, i, b->s[i], &len);
            rc = lead_task(b->p, buf, len, &index, &b->out[i]);
            free(buf);
        } else {
            rc = b->p->task(b->p->ud, b->kind, b->reform, b->stage, b->s[i], &b->out[i]);
        }
        if (rc) batch_fail(b, 0, err_get());
    }
    return NULL;
}

static void send_task(Batch *b, int i, int dest) {
    int len;
    char *buf = task_message(b->p, b->kind, b->reform, b->stage, i, b->s[i], &len);
    MPI_Send(buf, len, MPI_BYTE, dest, TAG_TASK, MPI_COMM_WORLD);
    free(buf);
}

/* Receive one message of any size with tag `tag` from `src` (MPI_ANY_SOURCE/TAG allowed),
 * polling. *from, *got: its sender and tag. The buffer is malloc'ed and NUL-terminated past
 * its *len bytes. */
static char *recv_any(int src, int tag, int *from, int *got, int *len) {
    MPI_Status st;
    int flag = 0, round = 0;
    for (;;) {
        MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st);
        if (flag) break;
        backoff(&round);
    }
    MPI_Get_count(&st, MPI_BYTE, len);
    char *buf = xmalloc((size_t)*len + 1);
    MPI_Recv(buf, *len, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    buf[*len] = 0;
    *from = st.MPI_SOURCE;
    *got = st.MPI_TAG;
    return buf;
}

int mpi_pool_batch(void *pool, TaskKind kind, bool reform, int stage, const Subnet *const *s, int n,
                   TaskResult *out) {
    if (n == 0) return 0;
    Batch b = {.p = pool, .kind = kind, .reform = reform, .stage = stage, .s = s, .n = n, .out = out};
    pthread_mutex_init(&b.mu, NULL);
    int pending = 0;
    for (int r = g_gsize; r < g_size; r += g_gsize) { /* the other groups' leaders */
        int i = take(&b);
        if (i < 0) break;
        send_task(&b, i, r);
        pending++;
    }
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, local_scorer, &b) == 0;
    if (!threaded) local_scorer(&b); /* no thread: rank 0 scores its share first */
    while (pending > 0) {
        int from, tag, len;
        char *buf = recv_any(MPI_ANY_SOURCE, TAG_RESULT, &from, &tag, &len);
        pending--;
        ResultHead h;
        assert((size_t)len >= sizeof h);
        memcpy(&h, buf, sizeof h);
        assert(h.index >= 0 && h.index < n);
        if (h.rc) batch_fail(&b, from, buf + sizeof h);
        else out[h.index] = h.r;
        free(buf);
        int i = take(&b);
        if (i >= 0) {
            send_task(&b, i, from);
            pending++;
        }
    }
    if (threaded) pthread_join(th, NULL);
    pthread_mutex_destroy(&b.mu);
    if (b.failed) return err_set("%s", b.err);
    return 0;
}

void mpi_pool_stop(void) {
    for (int r = g_gsize; r < g_size; r += g_gsize) MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, MPI_COMM_WORLD);
    if (g_gsize > 1) group_send(NULL, 0);
}

/* ---- ranks > 0 ---- */

/* A group member other than its leader: run what the leader hands out until it stops. */
static int member_serve(MpiPool *p) {
    for (;;) {
        int len = 0, index;
        MPI_Request req;
        MPI_Ibcast(&len, 1, MPI_INT, 0, g_group, &req);
        wait_req(&req);
        if (len == 0) return 0;
        char *buf = xmalloc((size_t)len);
        MPI_Ibcast(buf, len, MPI_BYTE, 0, g_group, &req);
        wait_req(&req);
        TaskResult r;
        (void)run_message(p, buf, len, &index, &r); /* the leader reports the result */
        free(buf);
    }
}

int mpi_pool_serve(MpiPool *p) {
    if (g_grank != 0) return member_serve(p);
    for (;;) {
        int from, tag, len;
        char *buf = recv_any(0, MPI_ANY_TAG, &from, &tag, &len);
        if (tag == TAG_STOP) {
            free(buf);
            if (g_gsize > 1) group_send(NULL, 0);
            return 0;
        }
        if (tag != TAG_TASK) {
            free(buf);
            return err_set("MPI: unexpected message (tag %d, %d bytes) from rank 0", tag, len);
        }
        ResultHead r = {0, 0, {{0}, 0}};
        const char *msg = "";
        if (lead_task(p, buf, len, &r.index, &r.r)) {
            r.rc = -1;
            msg = err_get()[0] ? err_get() : "failed";
        }
        free(buf);
        size_t ml = strlen(msg) + 1;
        char *out = xmalloc(sizeof r + ml);
        memcpy(out, &r, sizeof r);
        memcpy(out + sizeof r, msg, ml);
        MPI_Send(out, (int)(sizeof r + ml), MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
        free(out);
    }
}
