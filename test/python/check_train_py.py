#!/usr/bin/env python3
"""An independent check of an exported train.py with real PyTorch (no Transformers, no GPU):

  python3 test/python/check_train_py.py <export folder>

Imports train.py as a module and, on its exported rows, checks that
  1. StudioCollator's padded batches and packed sequences carry the same (token, next label) pairs;
  2. studio_loss over the micro-batches of one optimizer step, each divided by the step's target count
     (what Transformers passes as num_items_in_batch), sums to the mean cross-entropy over every target
     token of the step, padded or packed alike, for a toy causal model whose logits at t depend on token t only.
Needs torch (Debian: apt-get install python3-torch). Prints what it compared and exits non-zero on a mismatch.
"""
import importlib.util
import sys

import torch
import torch.nn.functional as F


def load(folder):
    spec = importlib.util.spec_from_file_location("train", folder + "/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Out:
    def __init__(self, logits):
        self.logits = logits


def main():
    folder = sys.argv[1]
    t = load(folder)
    rows = t.read_jsonl(folder + "/" + t.TRAIN_FILE)
    vocab = max(max(r["input_ids"]) for r in rows) + 1
    torch.manual_seed(0)
    table = torch.randn(vocab, vocab, dtype=torch.float64)
    model = lambda ids: Out(table[ids])  # noqa: E731 - logits at t from token t alone

    # The reference: mean CE over every target of the rows, position by position.
    total, count = 0.0, 0
    for r in rows:
        for i in range(1, len(r["input_ids"])):
            if r["labels"][i] != t.IGNORE_INDEX:
                total += F.cross_entropy(table[r["input_ids"][i - 1]][None], torch.tensor([r["labels"][i]])).item()
                count += 1
    reference = total / count

    collate = t.StudioCollator(t.PAD_TOKEN_ID)
    step = rows[: len(rows)]
    n_items = torch.tensor(count)
    for micro in (1, 2, 3, 5):
        padded = sum(t.studio_loss(model(b["input_ids"]), b["labels"], n_items).item()
                     for b in (collate(step[i:i + micro]) for i in range(0, len(step), micro)))
        order = list(range(len(step)))
        packs = t.pack_rows([len(r["input_ids"]) for r in step], t.MAX_LENGTH, order)
        packed_rows = [t.packed_row(step, p) for p in packs]
        packed = sum(t.studio_loss(model(b["input_ids"]), b["labels"], n_items).item()
                     for b in (collate(packed_rows[i:i + micro]) for i in range(0, len(packed_rows), micro)))
        print("micro-batch %d: padded %.12f, packed %.12f, reference %.12f (%d targets, %d rows, %d packed rows)"
              % (micro, padded, packed, reference, count, len(step), len(packed_rows)))
        if abs(padded - reference) > 1e-5 * reference or abs(packed - reference) > 1e-5 * reference:  # studio_loss computes in f32
            raise SystemExit("mismatch")
        b = collate(packed_rows[:micro])
        if b["input_ids"].shape[0] != 1 or b["position_ids"].shape != b["input_ids"].shape:
            raise SystemExit("a packed micro-batch is not one sequence with its position ids")
    print("ok")


if __name__ == "__main__":
    main()
