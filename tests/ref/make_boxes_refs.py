"""Reference values for tests/test_boxes.c: box IoU, NMS and the smooth-L1 loss.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_boxes_refs.py

torchvision is not installed with Debian's python3-torch 1.13, so box_iou, nms and batched_nms
are computed here by hand-written formulas that follow torchvision.ops exactly (box_iou:
inter / (area_a + area_b - inter) with corners (x0, y0, x1, y1); nms: boxes by decreasing
score, a box is dropped when its IoU with a kept box is > the threshold; batched_nms: nms per
class, results merged by decreasing score). The smooth-L1 loss is torch's own
(torch.nn.functional.smooth_l1_loss) with its gradients. Scores are distinct (torchvision
does not specify the order of ties). Format: make_nn_refs.py's (out entries hold the results;
i64 for indices).
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_nn_refs import Recorder, generated_by, write_cases  # noqa: E402  (same format)

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def random_boxes(n, scale=20.0):
    """n boxes with corners in [0, scale], x0 <= x1 and y0 <= y1."""
    p = torch.rand(n, 4) * scale
    x0, x1 = torch.minimum(p[:, 0], p[:, 2]), torch.maximum(p[:, 0], p[:, 2])
    y0, y1 = torch.minimum(p[:, 1], p[:, 3]), torch.maximum(p[:, 1], p[:, 3])
    return torch.stack([x0, y0, x1, y1], dim=1)


def box_iou(a, b):
    """torchvision.ops.box_iou, written out (float64 for the reference)."""
    a, b = a.double(), b.double()
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes, scores, thr):
    """torchvision.ops.nms, written out: greedy by decreasing score."""
    order = torch.argsort(scores, descending=True).tolist()
    iou = box_iou(boxes, boxes)
    keep, dead = [], set()
    for i in order:
        if i in dead:
            continue
        keep.append(i)
        for j in order:
            if j not in dead and j != i and iou[i, j] > thr:
                dead.add(j)
    return torch.tensor(keep, dtype=torch.int64)


def batched_nms(boxes, scores, idxs, thr):
    keep = []
    for c in idxs.unique().tolist():
        sel = torch.nonzero(idxs == c).flatten()
        keep += sel[nms(boxes[sel], scores[sel], thr)].tolist()
    keep = torch.tensor(keep, dtype=torch.int64)
    return keep[torch.argsort(scores[keep], descending=True)]


@case
def iou_random(r):
    """box_iou of 7 random boxes against 5 (some overlapping, some apart), plus an identical
    box, a nested one, one touching at an edge and a zero-area one."""
    a = random_boxes(7)
    b = random_boxes(5)
    a = torch.cat([a, torch.tensor([[2.0, 2.0, 6.0, 5.0], [0.0, 0.0, 10.0, 10.0],
                                    [10.0, 0.0, 12.0, 3.0]])])
    b = torch.cat([b, torch.tensor([[2.0, 2.0, 6.0, 5.0], [3.0, 3.0, 3.0, 8.0]])])
    r.add("const", "a", a)
    r.add("const", "b", b)
    r.add("out", "iou", box_iou(a, b).float())


@case
def nms_clusters(r):
    """nms and batched_nms of 30 boxes in 4 clusters (jittered copies of 4 boxes) with
    distinct scores, thresholds 0.5 and 0.3; batched with 3 classes."""
    centres = torch.tensor([[5.0, 5.0, 15.0, 12.0], [10.0, 8.0, 22.0, 20.0],
                            [30.0, 30.0, 40.0, 44.0], [0.0, 30.0, 8.0, 36.0]])
    boxes = centres[torch.randint(0, 4, (30,))] + torch.randn(30, 4) * 1.5
    boxes = torch.cat([torch.minimum(boxes[:, :2], boxes[:, 2:]),
                       torch.maximum(boxes[:, :2], boxes[:, 2:])], dim=1)
    scores = torch.randperm(30).float() / 30 + 0.01
    idxs = torch.randint(0, 3, (30,))
    r.add("const", "boxes", boxes)
    r.add("const", "scores", scores)
    r.add("const", "idxs", idxs)
    r.add("out", "keep_0.5", nms(boxes, scores, 0.5))
    r.add("out", "keep_0.3", nms(boxes, scores, 0.3))
    r.add("out", "batched_0.5", batched_nms(boxes, scores, idxs, 0.5))


@case
def smooth_l1(r):
    """F.smooth_l1_loss for beta 1 (mean), 0.5 (sum), 2 (none) and 0 (= l1, mean) on
    [4, 5] inputs spanning both sides of beta, with gradients of sum(out * R)."""
    x = r.input("x", torch.randn(4, 5) * 1.5)
    t = r.input("t", torch.randn(4, 5))
    loss = r.output("mean_b1", F.smooth_l1_loss(x, t, beta=1.0))
    loss = loss + r.output("sum_b0.5", F.smooth_l1_loss(x, t, reduction="sum", beta=0.5))
    loss = loss + r.output("none_b2", F.smooth_l1_loss(x, t, reduction="none", beta=2.0))
    loss = loss + r.output("mean_b0", F.smooth_l1_loss(x, t, beta=0.0))
    loss.backward()
    r.grad("x", x)
    r.grad("t", t)


def main():
    write_cases("boxes_refs.txt", ["box IoU, NMS and smooth-L1 references for tests/test_boxes.c",
                                   generated_by("make_boxes_refs.py")], CASES, 3000)


if __name__ == "__main__":
    main()
