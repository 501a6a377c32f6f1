/* deepc merge BASE ADAPTER OUT: fold a LoRA adapter (PEFT-named safetensors, as written by
 * dc_lora_save or examples/lora_finetune) into a checkpoint's weights (book §8.3).
 *
 * Works on the files (dc_lora_merge_file): every "<name>.weight" the adapter names gets
 * W += (alpha / r) B A; the other tensors and BASE's metadata are copied, so a `deepc train`
 * checkpoint stays one that eval, sample and info load; the optimizer state is dropped. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_merge(int argc, char **argv);

int cmd_merge(int argc, char **argv)
{
    const char *command = argv[0], *paths[3] = {NULL, NULL, NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "deepc %s: unknown option '%s' (try 'deepc %s --help')\n", command,
                    argv[i], command);
            return EXIT_USAGE;
        }
        if (n == 3) {
            fprintf(stderr, "deepc %s: unexpected argument '%s' (usage: deepc %s BASE ADAPTER OUT)\n",
                    command, argv[i], command);
            return EXIT_USAGE;
        }
        paths[n++] = argv[i];
    }
    if (n < 3) {
        fprintf(stderr, "deepc %s: need BASE, ADAPTER and OUT (usage: deepc %s BASE ADAPTER OUT)\n",
                command, command);
        return EXIT_USAGE;
    }
    int merged = dc_lora_merge_file(paths[0], paths[1], paths[2]);
    if (merged < 0) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    printf("merged %d LoRA adapter%s of %s into %s -> %s\n", merged, merged == 1 ? "" : "s",
           paths[1], paths[0], paths[2]);
    return EXIT_OK;
}
