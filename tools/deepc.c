/* deepc: the command-line tool.
 *
 *   deepc <command> [options]      deepc <command> --help      deepc --help | --version
 *
 * Commands live in one table (name, one-line summary, usage, function); main() only finds
 * the command and hands it its arguments, like darknet's examples/darknet.c. This file holds
 * the table, `info` and `bench`; train, eval and sample live in cli_train.c, report in
 * cli_report.c (see cli.h).
 * Exit status: 0 success, 1 a failure while running, 2 a usage error. */
#include "cli.h"
#include "kernels/kernels.h" /* dc_isa_detect, dc_isa_name: internal, but the CLI reports them */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*command_fn)(int argc, char **argv); /* argv[0] is the command's name */

typedef struct {
    const char *name;
    const char *summary; /* one line, for `deepc --help` */
    const char *usage;   /* the rest of `deepc NAME --help` */
    command_fn run;
    bool lists_tasks; /* --help goes on with the task table (cli_tasks_help) */
} command;

static const command *find_command(const char *name);

/* ---- Option parsing shared by the commands ------------------------------------------------ */

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

/* Accepts "--name V" and "--name=V" at argv[*i]; on a match stores V's integer value (in
 * [min, max]) and advances *i. Returns 1 on a match, 0 if argv[*i] is another option, -1
 * (message printed) for a bad value. */
static int int_option(int argc, char **argv, int *i, const char *name, long min, long max,
                      long *value)
{
    size_t len = strlen(name);
    const char *text;
    if (!strcmp(argv[*i], name)) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "deepc %s: %s needs a value\n", argv[0], name);
            return -1;
        }
        text = argv[++*i];
    } else if (!strncmp(argv[*i], name, len) && argv[*i][len] == '=') {
        text = argv[*i] + len + 1;
    } else {
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "deepc %s: %s expects an integer in [%ld, %ld], got '%s'\n", argv[0], name,
                min, max, text);
        return -1;
    }
    *value = v;
    return 1;
}

static int unknown_argument(char **argv, const char *arg)
{
    fprintf(stderr, "deepc %s: unknown argument '%s' (try 'deepc %s --help')\n", argv[0], arg,
            argv[0]);
    return 2;
}

/* ---- deepc info ------------------------------------------------------------------------- */

/* "model name" of the first CPU in /proc/cpuinfo, or "unknown". */
static void cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, size, "%s", colon);
        break;
    }
    fclose(f);
}

static int cmd_info(int argc, char **argv)
{
    if (argc > 1) { /* a model's summary first: --model ... or --checkpoint FILE */
        int rc = cli_model_info(argc, argv);
        if (rc) return rc;
    }
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("deepc %s\n", DC_VERSION);
    printf("cpu:          %s\n", cpu);
    printf("kernels:      %s in use, best this CPU runs: %s (DEEPC_ISA lowers it)\n",
           dc_kernel_isa(), dc_isa_name(dc_isa_detect()));
    printf("threads:      %d (DEEPC_NUM_THREADS sets it)\n", dc_get_num_threads());
#ifdef __VERSION__
    printf("compiler:     gcc %s\n", __VERSION__);
#endif
    printf("build:        %s%s%s; per-ISA kernels chosen at run time\n",
#ifdef __OPTIMIZE__
           "optimised",
#else
           "not optimised",
#endif
#ifdef __SANITIZE_ADDRESS__
           ", AddressSanitizer",
#else
           "",
#endif
#ifdef NDEBUG
           ", NDEBUG",
#else
           ""
#endif
    );
    /* Libraries the Makefile found (DESIGN.md: detected at build time, never required). */
    printf("optional:     jansson %s, zlib %s, libpng %s\n",
#ifdef DC_HAVE_JANSSON
           "yes",
#else
           "no",
#endif
#ifdef DC_HAVE_ZLIB
           "yes",
#else
           "no",
#endif
#ifdef DC_HAVE_PNG
           "yes"
#else
           "no"
#endif
    );
    return 0;
}

/* ---- deepc bench gemm ------------------------------------------------------------------- */

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median time of `runs` float32 matmuls [n,n] @ [n,n] through dc_matmul (so the op layer's
 * overhead is included), after one warm-up run. */
static int bench_gemm(long n, int runs)
{
    enum { MAX_RUNS = 32 };
    double times[MAX_RUNS];
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_randn(NULL, DC_F32, DC_SHAPE(n, n));
    dc_tensor *b = dc_randn(NULL, DC_F32, DC_SHAPE(n, n));
    int rc = 0;
    for (int r = -1; r < runs && rc == 0; r++) {
        size_t run_scope = dc_scope_begin();
        double start = seconds_now();
        if (!dc_matmul(a, b)) rc = -1;
        if (r >= 0) times[r] = seconds_now() - start;
        dc_scope_end(run_scope);
    }
    dc_scope_end(scope);
    if (rc != 0) {
        fprintf(stderr, "deepc bench: gemm failed: %s\n", dc_last_error());
        return 1;
    }
    qsort(times, (size_t)runs, sizeof *times, by_value);
    double median = times[runs / 2];
    printf("sgemm %ldx%ldx%ld  %s kernels, threads %d  median of %d: %.3f ms  %.1f GFLOP/s\n", n, n,
           n, dc_kernel_isa(), dc_get_num_threads(), runs, 1e3 * median,
           2.0 * (double)n * (double)n * (double)n / median * 1e-9);
    return 0;
}

static int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "deepc bench: which benchmark? (available: gemm)\n");
        return 2;
    }
    if (strcmp(argv[1], "gemm") != 0) {
        fprintf(stderr, "deepc bench: unknown benchmark '%s' (available: gemm)\n", argv[1]);
        return 2;
    }
    long size = 512, threads = 0, runs = 7;
    for (int i = 2; i < argc; i++) {
        int matched = int_option(argc, argv, &i, "--size", 1, 16384, &size);
        if (!matched) matched = int_option(argc, argv, &i, "--threads", 1, 1024, &threads);
        if (!matched) matched = int_option(argc, argv, &i, "--runs", 1, 32, &runs);
        if (matched < 0) return 2;
        if (!matched) return unknown_argument(argv, argv[i]);
    }
    if (threads > 0 && dc_set_num_threads((int)threads) != 0) {
        fprintf(stderr, "deepc bench: cannot use %ld threads: %s\n", threads, dc_last_error());
        return 1;
    }
    return bench_gemm(size, (int)runs);
}

/* ---- The command table and the dispatcher ----------------------------------------------- */

static int cmd_help(int argc, char **argv);
int cmd_quantize(int argc, char **argv); /* tools/cli_quantize.c */
int cmd_merge(int argc, char **argv);    /* tools/cli_merge.c */

static const command commands[] = {
    {"info", "print the machine and build configuration, or a model's summary",
     "usage: deepc info [--model M [model options of deepc train] | --checkpoint FILE]\n"
     "  Prints the version, the CPU model, the kernel ISA in use and the best one this CPU\n"
     "  supports, the thread count, the compiler and build flags, and optional libraries.\n"
     "  With --model or --checkpoint, first the model's summary: each layer's output shape\n"
     "  and parameter count.\n",
     cmd_info, false},
    {"bench", "run a micro-benchmark (gemm)",
     "usage: deepc bench gemm [--size N] [--threads T] [--runs R]\n"
     "  Times float32 N x N matrix products through dc_matmul and prints the median\n"
     "  time and GFLOP/s. Defaults: N = 512, T = all CPUs (or DEEPC_NUM_THREADS), R = 7.\n",
     cmd_bench, false},
    {"train", "train a model on Fashion-MNIST or a text corpus, or an application (--task)",
     "usage: deepc train [--model M] [--data D] [options]      (--config FILE: the same keys)\n"
     "       deepc train --task NAME [task options] [options]  (deepc train --task NAME --help)\n"
     "  Trains, evaluates on a validation split every epoch, and writes to OUT\n"
     "  log.csv, loss.svg and checkpoint.safetensors (model + optimizer + run metadata);\n"
     "  ends with the test accuracy (images) or a text sample (gpt).\n"
     "  model and data:\n"
     "    --model mlp|lenet|resnet-small|vit|gpt|lstm  (mlp)\n"
     "    --data fashion-mnist | names | brown | FILE  (fashion-mnist for images, names for gpt;\n"
     "                          names/brown: data/*.txt from 'make data', else assets/ samples)\n"
     "    --data-dir DIR        MNIST-format IDX files (/usr/share/datasets/fashion-mnist)\n"
     "    --val N               validation images, or fraction of the text if < 1 (5000, 0.1)\n"
     "    --augment             random crops (padding 2) and horizontal flips\n"
     "    --hidden W1,W2,...    mlp hidden widths (512,256)\n"
     "    --context T --layers L --heads H --dim D --dropout P\n"
     "                          gpt (32, 4, 4, 128) and vit (patch 7; 4, 4, 64) sizes; dropout 0\n"
     "    --hidden H --embedding E --layers L --context T --dropout P\n"
     "                          lstm: state size 256, embedding 64, 2 layers, windows of 32\n"
     "    --tokenizer char|bpe --merges N   text tokenizer (char; 256 BPE merges)\n"
     "    --shuffle-lines yes|no  shuffle the text's lines before the split (yes for names)\n"
     "  optimisation:\n"
     "    --epochs N (10; gpt 5)  --batch B (128; gpt 32)  --lr LR (0.001)\n"
     "    --optim adamw|adam|sgd (adamw; sgd uses momentum 0.9)  --weight-decay W (torch's)\n"
     "    --schedule cosine|step|constant (cosine)  --warmup N steps (0)\n"
     "    --clip N              clip the gradient norm (0 = off; gpt 1)\n"
     "    --steps-per-epoch N   cap an epoch (default: one pass over the data)\n"
     "    --seed S (0)  --threads T (all CPUs)\n"
     "  the run:\n"
     "    --out DIR             (runs/MODEL)\n"
     "    --resume              continue OUT/checkpoint.safetensors exactly where it stopped;\n"
     "                          flags given now override the saved ones (e.g. --epochs)\n"
     "    --max-steps N         stop after N steps in this invocation (checkpoint kept)\n"
     "    --log-every N         log.csv row every N steps (a tenth of an epoch)\n"
     "    --save-every N        also checkpoint every N steps (a crash loses at most N)\n"
     "    --report              keep OUT/report.html (deepc report) up to date while training\n"
     "    --on-nonfinite stop|skip  at a NaN/inf loss or gradient: stop, naming the step and\n"
     "                          the parameter (stop), or skip that update (skip; 10 in a row stop)\n"
     "  --task NAME: an application instead of --model, with its own options (saved in the\n"
     "  checkpoint like the others) and defaults for the shared ones; it ends with its test\n"
     "  metrics (OUT/metrics.txt) and pictures (in OUT).\n",
     cmd_train, true},
    {"eval", "evaluate a checkpoint: test accuracy, or validation loss and perplexity",
     "usage: deepc eval --checkpoint FILE [--data-dir DIR] [--data FILE] [--threads T]\n"
     "  Rebuilds the model from the checkpoint's metadata. Image models: accuracy and loss on\n"
     "  the full test set (10,000 images), normalised with the training statistics. gpt: loss\n"
     "  and perplexity on the validation part of its text (or of --data FILE).\n",
     cmd_eval, false},
    {"sample", "generate text with a gpt checkpoint",
     "usage: deepc sample --checkpoint FILE [--prompt TEXT] [--n N] [--temperature T]\n"
     "                    [--top-k K] [--top-p P] [--seed S] [--threads T]\n"
     "  Prints the prompt followed by N generated tokens (200). Without a prompt generation\n"
     "  starts at a new line. Temperature 1 (0: greedy), top-k 0 (all), top-p 1 (all), seed 0:\n"
     "  the same seed gives the same text.\n",
     cmd_sample, false},
    {"generate", "draw samples from a generative task's checkpoint (a PNG grid)",
     "usage: deepc generate --checkpoint FILE [--n N] [--steps S] [--seed S] [--out PNG]\n"
     "                      [--threads T]\n"
     "  Rebuilds the task's model from a 'deepc train --task NAME' checkpoint and writes N\n"
     "  samples (64) drawn with seed S (0) in S sampling steps (0: the task's default, e.g. the\n"
     "  number of DDIM steps of diffusion) as one picture, PNG (samples.png).\n",
     cmd_generate, true},
    {"report", "write a training run (or several, compared) as one HTML page",
     "usage: deepc report RUN_DIR [RUN_DIR ...] [--out FILE]\n"
     "  Writes one self-contained HTML file (nothing fetched: inline SVG plots and images)\n"
     "  from what training wrote to RUN_DIR: the configuration, the loss, accuracy,\n"
     "  learning-rate and throughput curves, and the confusion matrix and misclassified test\n"
     "  images of a classifier or the generated text of a language model. Several run\n"
     "  directories give one page comparing them (curves overlaid, configurations in\n"
     "  columns). FILE: RUN_DIR/report.html for one run, report.html for several.\n"
     "  'deepc train --report' keeps OUT/report.html up to date while it trains.\n",
     cmd_report, false},
    {"quantize", "quantize a checkpoint's Linear/Embedding weights (q8_0, q4_1)",
     "usage: deepc quantize IN OUT [--type q8_0|q4_1] [--pattern GLOB]\n"
     "  Rebuilds the model of checkpoint IN, quantizes the weights of its Linear and Embedding\n"
     "  layers (those whose dotted names match GLOB, e.g. 'blocks.*'; default all) to q8_0\n"
     "  (8.5 bits a weight; the default) or q4_1 (5 bits), and writes OUT, which sample, eval\n"
     "  and info load. Rows must be a multiple of 32 long. Attention projections stay float.\n",
     cmd_quantize, false},
    {"merge", "fold a LoRA adapter into a checkpoint's weights",
     "usage: deepc merge BASE ADAPTER OUT\n"
     "  ADAPTER: a LoRA adapter with PEFT's names (base_model.model.NAME.lora_A.weight /\n"
     "  lora_B.weight, metadata lora_alpha), e.g. from examples/lora_finetune. Writes OUT =\n"
     "  BASE with every NAME.weight += (lora_alpha / r) B A, BASE's metadata kept (eval, sample\n"
     "  and info load it as they load BASE) and its optimizer state dropped. Quantize after\n"
     "  merging (deepc quantize OUT ...), not before.\n",
     cmd_merge, false},
    {"help", "show help for a command", "usage: deepc help [COMMAND]\n", cmd_help, false},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static const command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "deepc %s: a deep learning framework in C\n\n"
            "usage: deepc <command> [options]    deepc <command> --help\n"
            "       deepc --help | --version\n\ncommands:\n",
            DC_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stdout);
        return 0;
    }
    const command *cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "deepc help: unknown command '%s'\n", argv[1]);
        return 2;
    }
    printf("%s", cmd->usage);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        print_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("deepc %s\n", DC_VERSION);
        return 0;
    }
    const command *cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "deepc: unknown command '%s' (try 'deepc --help')\n", argv[1]);
        return 2;
    }
    if (wants_help(argc - 1, argv + 1)) { /* every command answers --help the same way */
        printf("%s", cmd->usage);
        if (cmd->lists_tasks) cli_tasks_help(stdout, option_in_args(argc - 1, argv + 1, "task"));
        return 0;
    }
    /* the library ignores a bad DEEPC_ISA / DEEPC_NUM_THREADS (with a warning); here it is
     * a usage error, like a bad flag */
    const char *problems[] = {dc_isa_env_problem(), dc_threads_env_problem()};
    for (int i = 0; i < 2; i++)
        if (problems[i]) { /* without the library's "(ignored: ...)" */
            int len = (int)strcspn(problems[i], "(");
            while (len > 0 && problems[i][len - 1] == ' ') len--;
            fprintf(stderr, "deepc %s: %.*s; unset it or give a valid value\n", cmd->name, len,
                    problems[i]);
            return 2;
        }
    return cmd->run(argc - 1, argv + 1);
}
