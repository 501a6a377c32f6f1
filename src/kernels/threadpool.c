/* The one thread pool every op runs on (two pools fighting for cores cost us 4-5x).
 *
 * Compile flags: plain (e.g. -O2 -std=c11 -pthread).
 *
 * How a dispatch works. The caller (the "dispatcher") writes the job description, sets the
 * count of pending worker chunks, then publishes a new value of `job_word`, which packs a
 * generation counter (high 32 bits) with the number of chunks (low 32 bits). Workers notice
 * the new generation, run their chunk, and decrement `pending_chunks`; the dispatcher runs
 * chunk 0 itself and then waits for `pending_chunks` to reach 0. Packing the chunk count
 * into the published word lets a worker with no chunk go back to waiting without reading
 * the job fields, which the next dispatch may already be rewriting.
 *
 * Why spin first: ops call this thousands of times per training step with microsecond gaps,
 * so both sides spin briefly (a futex wake costs several microseconds) and only then sleep
 * on a condition variable. Sleeping uses the "Dekker" pattern: the sleeper increments a
 * sleeper count, then re-reads the state; the waker changes the state, then reads the
 * sleeper count. With sequentially consistent atomics at least one of them sees the
 * other, so a wake-up is never lost, and the waker only takes the mutex when someone
 * actually sleeps. */
#define _POSIX_C_SOURCE 200809L
#include "kernels.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How long an idle worker spins for the next job before sleeping, and how long the
 * dispatcher spins for the workers to finish. Short enough that an idle process does not
 * burn a core for long, long enough to bridge the gaps between back-to-back small ops. */
#define WORKER_SPIN_NS 200000  /* 0.2 ms */
#define DISPATCH_SPIN_NS 2000000 /* 2 ms: the dispatcher has nothing better to do */

/* ---- pool state ---------------------------------------------------------------------- */

/* Serialises dispatches from different application threads, and start/stop/resize. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_running;     /* guarded by pool_lock */
static int pool_nthreads;    /* guarded by pool_lock; threads incl. the dispatcher */
static pthread_t *pool_workers; /* guarded by pool_lock; pool_nthreads - 1 of them */
static int atexit_registered; /* guarded by pool_lock */

/* Thread count the next start uses; 0 = not decided yet (read the environment). */
static atomic_int configured_threads;

/* The job. Plain fields: written by the dispatcher before it publishes job_word (release),
 * read by participating workers after they observe it (acquire), and not rewritten before
 * every participant has decremented pending_chunks. */
static dc_range_fn job_fn;
static void *job_ctx;
static int64_t job_n;
static _Atomic uint64_t job_word;     /* generation << 32 | number of chunks */
static atomic_int job_stop;           /* set with a new generation to make workers exit */
static atomic_int pending_chunks;     /* worker chunks of the current job not yet done */

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;     /* workers wait for a job */
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;     /* dispatcher waits for them */
static atomic_int sleeping_workers;
static atomic_int dispatcher_sleeping;

/* 1 while this thread runs a chunk (pool workers: always), so nested calls run inline. */
static _Thread_local int tls_in_parallel_region;
/* This thread's index in the pool (0 for the dispatcher); nested inline calls pass it on
 * so per-tid scratch of an outer op and of the nested op never alias another thread's. */
static _Thread_local int tls_tid;

static inline uint32_t word_generation(uint64_t word) { return (uint32_t)(word >> 32); }
static inline int word_chunks(uint64_t word) { return (int)(word & 0xffffffffu); }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause(); /* tells the core we spin: frees resources for the sibling */
#endif
}

static int64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* The chunk `index` of `nchunks` equal contiguous pieces of [0, n). */
static void run_chunk(dc_range_fn fn, void *ctx, int64_t n, int nchunks, int index)
{
    int64_t begin = n / nchunks * index + (index < n % nchunks ? index : n % nchunks);
    int64_t end = begin + n / nchunks + (index < n % nchunks ? 1 : 0);
    fn(ctx, begin, end, index);
}

/* ---- worker side --------------------------------------------------------------------- */

static uint64_t wait_for_new_generation(uint32_t seen_generation)
{
    int64_t spin_deadline = monotonic_ns() + WORKER_SPIN_NS;
    for (unsigned spins = 1;; spins++) {
        uint64_t word = atomic_load_explicit(&job_word, memory_order_acquire);
        if (word_generation(word) != seen_generation)
            return word;
        cpu_relax();
        if (spins % 256 == 0 && monotonic_ns() > spin_deadline)
            break;
    }
    pthread_mutex_lock(&wake_lock);
    atomic_fetch_add(&sleeping_workers, 1);
    uint64_t word;
    while (word_generation(word = atomic_load(&job_word)) == seen_generation)
        pthread_cond_wait(&wake_cond, &wake_lock);
    atomic_fetch_sub(&sleeping_workers, 1);
    pthread_mutex_unlock(&wake_lock);
    return word;
}

static void signal_chunk_done(void)
{
    if (atomic_fetch_sub(&pending_chunks, 1) == 1 && atomic_load(&dispatcher_sleeping)) {
        pthread_mutex_lock(&wake_lock);
        pthread_cond_signal(&done_cond);
        pthread_mutex_unlock(&wake_lock);
    }
}

typedef struct {
    int tid;
    uint32_t start_generation;
} worker_args;

static void *worker_main(void *arg)
{
    worker_args args = *(worker_args *)arg;
    free(arg);
    dc_set_flush_denormal();
    tls_in_parallel_region = 1;
    tls_tid = args.tid;
    uint32_t seen = args.start_generation;
    for (;;) {
        uint64_t word = wait_for_new_generation(seen);
        seen = word_generation(word);
        if (atomic_load_explicit(&job_stop, memory_order_relaxed))
            break;
        if (args.tid < word_chunks(word)) {
            run_chunk(job_fn, job_ctx, job_n, word_chunks(word), args.tid);
            signal_chunk_done();
        }
    }
    dc_gemm_free_thread_workspace(); /* no leak reports for per-thread packing buffers */
    return NULL;
}

/* ---- dispatcher side ----------------------------------------------------------------- */

static void publish_job_word(uint64_t word)
{
    atomic_store(&job_word, word); /* seq_cst: pairs with the sleeper-count read below */
    if (atomic_load(&sleeping_workers) > 0) {
        pthread_mutex_lock(&wake_lock);
        pthread_cond_broadcast(&wake_cond);
        pthread_mutex_unlock(&wake_lock);
    }
}

static void wait_for_workers(void)
{
    int64_t spin_deadline = monotonic_ns() + DISPATCH_SPIN_NS;
    for (unsigned spins = 1;; spins++) {
        if (atomic_load_explicit(&pending_chunks, memory_order_acquire) == 0)
            return;
        cpu_relax();
        if (spins % 256 == 0 && monotonic_ns() > spin_deadline)
            break;
    }
    pthread_mutex_lock(&wake_lock);
    atomic_store(&dispatcher_sleeping, 1);
    while (atomic_load(&pending_chunks) != 0)
        pthread_cond_wait(&done_cond, &wake_lock);
    atomic_store(&dispatcher_sleeping, 0);
    pthread_mutex_unlock(&wake_lock);
}

const char *dc_threads_env_problem(void)
{
    static char problem[160];
    const char *env = getenv("DEEPC_NUM_THREADS");
    if (env == NULL)
        return NULL;
    char *end;
    errno = 0;
    long n = strtol(env, &end, 10);
    if (errno == 0 && end != env && *end == '\0' && n >= 1 && n <= 4096)
        return NULL;
    snprintf(problem, sizeof problem,
             "DEEPC_NUM_THREADS='%.40s' is not a thread count in [1, 4096] (ignored: one "
             "thread per CPU)", env);
    return problem;
}

static int default_thread_count(void)
{
    const char *problem = dc_threads_env_problem();
    static atomic_int warned;
    if (problem != NULL && atomic_exchange(&warned, 1) == 0)
        fprintf(stderr, "deepc: warning: %s\n", problem);
    const char *env = getenv("DEEPC_NUM_THREADS");
    if (env != NULL && problem == NULL)
        return (int)strtol(env, NULL, 10);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online >= 1 ? (int)(online < 4096 ? online : 4096) : 1;
}

static void pool_stop_locked(void)
{
    if (!pool_running)
        return;
    atomic_store(&job_stop, 1);
    uint32_t next = word_generation(atomic_load(&job_word)) + 1;
    publish_job_word((uint64_t)next << 32);
    for (int i = 0; i < pool_nthreads - 1; i++)
        pthread_join(pool_workers[i], NULL);
    free(pool_workers);
    pool_workers = NULL;
    atomic_store(&job_stop, 0);
    pool_running = 0;
    pool_nthreads = 1;
}

static void shutdown_at_exit(void) { dc_threads_shutdown(); }

/* Starts the workers. If threads or memory run out, runs with however many started
 * (at worst only the calling thread): slower, never a crash. */
static void pool_start_locked(void)
{
    int wanted = atomic_load(&configured_threads);
    if (wanted < 1)
        wanted = default_thread_count();
    dc_set_flush_denormal(); /* the dispatching thread runs chunk 0, so it gets FTZ too */
    if (!atexit_registered)
        atexit_registered = atexit(shutdown_at_exit) == 0;
    pool_nthreads = 1;
    pool_workers = wanted > 1 ? malloc(sizeof(pthread_t) * (size_t)(wanted - 1)) : NULL;
    uint32_t generation = word_generation(atomic_load(&job_word));
    for (int tid = 1; pool_workers != NULL && tid < wanted; tid++) {
        worker_args *args = malloc(sizeof *args);
        if (args == NULL)
            break;
        *args = (worker_args){.tid = tid, .start_generation = generation};
        if (pthread_create(&pool_workers[tid - 1], NULL, worker_main, args) != 0) {
            free(args);
            break;
        }
        pool_nthreads = tid + 1;
    }
    atomic_store(&configured_threads, pool_nthreads);
    pool_running = 1;
}

void dc_parallel_for(int64_t n, int64_t grain, dc_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (n <= grain || tls_in_parallel_region) {
        fn(ctx, 0, n, tls_tid);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    if (!pool_running)
        pool_start_locked();
    int64_t max_chunks = n / grain; /* every chunk gets at least `grain` items */
    int nchunks = max_chunks < pool_nthreads ? (int)max_chunks : pool_nthreads;
    if (nchunks <= 1) {
        pthread_mutex_unlock(&pool_lock);
        fn(ctx, 0, n, 0);
        return;
    }
    job_fn = fn;
    job_ctx = ctx;
    job_n = n;
    atomic_store_explicit(&pending_chunks, nchunks - 1, memory_order_relaxed);
    uint32_t next = word_generation(atomic_load(&job_word)) + 1;
    publish_job_word((uint64_t)next << 32 | (uint64_t)nchunks);

    tls_in_parallel_region = 1;
    run_chunk(fn, ctx, n, nchunks, 0);
    tls_in_parallel_region = 0;
    wait_for_workers();
    pthread_mutex_unlock(&pool_lock);
}

int dc_set_num_threads(int n)
{
    if (n < 1 || n > 4096 || tls_in_parallel_region)
        return -1; /* joining the pool from inside a chunk would wait for ourselves */
    pthread_mutex_lock(&pool_lock);
    pool_stop_locked();
    atomic_store(&configured_threads, n);
    pool_start_locked();
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

int dc_get_num_threads(void)
{
    int n = atomic_load(&configured_threads);
    return n >= 1 ? n : default_thread_count();
}

void dc_threads_shutdown(void)
{
    if (tls_in_parallel_region)
        return; /* e.g. exit() called from inside a chunk: joining would deadlock */
    pthread_mutex_lock(&pool_lock);
    pool_stop_locked();
    pthread_mutex_unlock(&pool_lock);
    dc_gemm_free_thread_workspace();
}
