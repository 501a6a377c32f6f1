/* deepc: a deep learning framework in C, after The Little Book of Deep Learning.
 * One include for the whole public API; each layer of abstraction has its own header. */
#ifndef DEEPC_H
#define DEEPC_H

#include "deepc/core.h"     /* errors, tensors, views, scopes, RNG, threads */
#include "deepc/autograd.h" /* requires_grad, backward, no-grad */
#include "deepc/ops.h"      /* differentiable operations */
#include "deepc/io.h"       /* safetensors checkpoints */
#include "deepc/nn.h"       /* modules, parameters, summary */
#include "deepc/optim.h"    /* optimizers, schedules, clipping */
#include "deepc/data.h"     /* datasets, IDX images, loaders, tokenizers */
#include "deepc/models.h"   /* architectures: MLP, LeNet, ResNet, Transformer, GPT, ViT */
#include "deepc/quant.h"    /* Q8_0 / Q4_1 weights: quantized Linear, Embedding, files */
#include "deepc/task.h"     /* training tasks: what `deepc train --task NAME` runs */

#endif
