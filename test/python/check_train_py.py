#!/usr/bin/env python3
"""An independent check of an exported train.py with real PyTorch (no Transformers, no GPU):

  /usr/bin/python3 test/python/check_train_py.py <export folder>

Imports train.py as a module and checks it on its exported rows. For a causal-LM export (OBJECTIVE "causal-lm"):
  1. StudioCollator's padded batches and packed sequences carry the same (token, next label) pairs;
  2. studio_loss over the micro-batches of one optimizer step, each divided by the step's target count
     (what Transformers passes as num_items_in_batch), sums to the mean cross-entropy over every target
     token of the step, padded or packed alike, for a toy causal model whose logits at t depend on token t only.
For a classification export (OBJECTIVE "classification": single-label, regression or multi-label):
  1. ClassificationCollator right-pads each micro-batch to its longest row with PAD_TOKEN_ID, attention mask 1 on the
     row's tokens and 0 after, its token types then 0 (the key only when USE_TOKEN_TYPE_IDS), labels as class ids
     (int64, one per row) for single-label, f32 targets (one per row) for regression, f32 multi-hot rows for multi-label;
  2. classification_loss over micro-batches of 1, 2, 3 and 5 rows, each given the step's count as num_items_in_batch
     (counted as Transformers counts it, labels != -100 over the step's micro-batches: rows, or rows x labels), sums to
     the mean loss of the whole step computed here with torch (F.cross_entropy / F.mse_loss /
     F.binary_cross_entropy_with_logits, reduction "mean", f64) on logits of each row alone, unpadded; a toy encoder
     (token + token-type embeddings, mean over the attention mask, a linear head) makes the logits; without a count
     (evaluation) the loss is the micro-batch's mean;
  3. classification_metrics (and make_compute_metrics) on random logits equal metrics computed here another way:
     accuracy by argmax and macro F1 over every label as 2tp / (2tp + fp + fn), 0 for a class with none (sklearn's
     labels=all, zero_division=0); multi-label micro F1 / precision / recall, macro F1 and exact-match accuracy at
     logit > 0; regression MSE, MAE and numpy's Pearson correlation.
Needs torch and numpy (Debian: apt-get install python3-torch, for /usr/bin/python3). Prints what it compared and exits
non-zero on a mismatch.
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


def check_causal_lm(folder, t):
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


# ---- classification -------------------------------------------------------------------------------------------------

def fail(message):
    raise SystemExit("mismatch: " + message)


class ToyEncoder(torch.nn.Module):
    """Logits from a collated batch: token and token-type embeddings averaged over the attention mask, then a linear
    head (f64). A row's logits do not depend on its padding, so each row alone, unpadded, gives the same logits."""

    def __init__(self, vocab, labels, hidden=16):
        super().__init__()
        self.tokens = torch.nn.Parameter(torch.randn(vocab, hidden, dtype=torch.float64))
        self.types = torch.nn.Parameter(torch.randn(2, hidden, dtype=torch.float64))
        self.head = torch.nn.Parameter(torch.randn(hidden, labels, dtype=torch.float64))
        self.bias = torch.nn.Parameter(torch.randn(labels, dtype=torch.float64))

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        h = self.tokens[input_ids]
        if token_type_ids is not None:
            h = h + self.types[token_type_ids]
        m = attention_mask.to(h.dtype)[..., None]
        return Out((h * m).sum(1) / m.sum(1) @ self.head + self.bias)


def check_collator(t, rows, micro):
    """Each micro-batch against tensors built here from the rows; returns the micro-batches."""
    problem = t.PROBLEM_TYPE
    collate = t.ClassificationCollator(t.PAD_TOKEN_ID, t.USE_TOKEN_TYPE_IDS)
    batches, padded = [], 0
    for i in range(0, len(rows), micro):
        part = rows[i:i + micro]
        b = collate(part)
        width = max(len(r["input_ids"]) for r in part)
        want = {
            "input_ids": torch.tensor([r["input_ids"] + [t.PAD_TOKEN_ID] * (width - len(r["input_ids"])) for r in part], dtype=torch.long),
            "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in part], dtype=torch.long),
        }
        if t.USE_TOKEN_TYPE_IDS:
            want["token_type_ids"] = torch.tensor([r["token_type_ids"] + [0] * (width - len(r["input_ids"])) for r in part], dtype=torch.long)
        if problem == "single_label_classification":
            want["labels"] = torch.tensor([r["labels"] for r in part], dtype=torch.int64)
        elif problem == "regression":
            want["labels"] = torch.tensor([float(r["labels"]) for r in part], dtype=torch.float32)
        else:
            want["labels"] = torch.tensor([[float(x) for x in r["labels"]] for r in part], dtype=torch.float32)
        if sorted(b) != sorted(want):
            fail("micro-batch %d keys %s, expected %s" % (i // micro, sorted(b), sorted(want)))
        for k in want:
            if b[k].dtype != want[k].dtype or b[k].shape != want[k].shape or not torch.equal(b[k], want[k]):
                fail("micro-batch %d %s: %s %s %s, expected %s %s %s" % (i // micro, k, b[k].dtype, tuple(b[k].shape), b[k].tolist(),
                                                                        want[k].dtype, tuple(want[k].shape), want[k].tolist()))
        padded += sum(width - len(r["input_ids"]) for r in part)
        batches.append(b)
    return batches, padded


def model_inputs(b):
    return {k: v for k, v in b.items() if k != "labels"}


def check_classification_loss(t, rows, model, problem, L):
    # The reference: each row alone (no padding, no collator) through the toy model, then torch's mean over the step.
    with torch.no_grad():
        logits = torch.cat([model(torch.tensor([r["input_ids"]]), torch.ones(1, len(r["input_ids"]), dtype=torch.long),
                                  torch.tensor([r["token_type_ids"]]) if t.USE_TOKEN_TYPE_IDS else None).logits for r in rows])
    if problem == "single_label_classification":
        target = torch.tensor([r["labels"] for r in rows])
        reference = F.cross_entropy(logits, target).item()
        expected_count = len(rows)
    elif problem == "regression":
        target = torch.tensor([float(r["labels"]) for r in rows], dtype=torch.float64)
        reference = F.mse_loss(logits.view(-1), target).item()
        expected_count = len(rows)
    else:
        target = torch.tensor([r["labels"] for r in rows], dtype=torch.float64)
        reference = F.binary_cross_entropy_with_logits(logits, target).item()
        expected_count = len(rows) * L
    for micro in (1, 2, 3, 5):
        batches, padded = check_collator(t, rows, micro)
        # num_items_in_batch as Transformers' Trainer counts it for the step (get_batch_samples: labels.ne(-100).sum()).
        count = sum(int(b["labels"].ne(-100).sum()) for b in batches)
        if count != expected_count:
            fail("the step's count %d is not %d" % (count, expected_count))
        n_items = torch.tensor(count)
        with torch.no_grad():
            total = sum(t.classification_loss(model(**model_inputs(b)), b["labels"], n_items).item() for b in batches)
        print("  micro-batch %d: %d micro-batches (%d pad tokens), collator ok; loss summed %.10f, torch mean %.10f, num_items_in_batch %d"
              % (micro, len(batches), padded, total, reference, count))
        if abs(total - reference) > 1e-5 * max(abs(reference), 1e-3):  # classification_loss computes in f32
            fail("classification_loss over micro-batches of %d: %.10f, expected %.10f" % (micro, total, reference))


def check_evaluation_loss(t, rows, model, problem):
    """Evaluation passes no count: the loss is the micro-batch's own mean."""
    b = t.ClassificationCollator(t.PAD_TOKEN_ID, t.USE_TOKEN_TYPE_IDS)(rows)
    with torch.no_grad():
        out = model(**model_inputs(b))
        got = t.classification_loss(out, b["labels"]).item()
        lg = out.logits
        if problem == "single_label_classification":
            want = F.cross_entropy(lg, b["labels"]).item()
        elif problem == "regression":
            want = F.mse_loss(lg.view(-1), b["labels"].double()).item()
        else:
            want = F.binary_cross_entropy_with_logits(lg, b["labels"].double()).item()
    print(" no num_items_in_batch (evaluation), %d rows: %.10f, torch mean %.10f" % (len(rows), got, want))
    if abs(got - want) > 1e-5 * max(abs(want), 1e-3):
        fail("classification_loss without a count: %.10f, expected %.10f" % (got, want))


def reference_metrics(problem, logits, labels):
    """The metrics computed another way than train.py: torch tensors, counts by masks, numpy's corrcoef."""
    import numpy as np

    x = torch.tensor(logits, dtype=torch.float64)
    if problem == "single_label_classification":
        y = torch.tensor(labels)
        pred = x.argmax(1)
        f1s = []
        for c in range(x.shape[1]):
            tp = int(((pred == c) & (y == c)).sum())
            fp = int(((pred == c) & (y != c)).sum())
            fn = int(((pred != c) & (y == c)).sum())
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        return {"accuracy": (pred == y).double().mean().item(), "f1": sum(f1s) / len(f1s)}
    if problem == "multi_label_classification":
        p, y = x > 0, torch.tensor(labels) > 0.5
        tp, fp, fn = (p & y).sum(0), (p & ~y).sum(0), (~p & y).sum(0)
        TP, FP, FN = int(tp.sum()), int(fp.sum()), int(fn.sum())
        per = [2 * int(a) / (2 * int(a) + int(b) + int(c)) if int(a) else 0.0 for a, b, c in zip(tp, fp, fn)]
        return {"f1": 2 * TP / (2 * TP + FP + FN) if TP else 0.0, "f1_macro": sum(per) / len(per),
                "precision": TP / (TP + FP) if TP + FP else 0.0, "recall": TP / (TP + FN) if TP + FN else 0.0,
                "accuracy": (p == y).all(1).double().mean().item()}
    a, b = np.asarray(logits, dtype=np.float64).reshape(-1), np.asarray(labels, dtype=np.float64).reshape(-1)
    return {"mse": float(np.mean((a - b) ** 2)), "mae": float(np.mean(np.abs(a - b))), "pearson": float(np.corrcoef(a, b)[0, 1])}


def check_classification_metrics(t, problem, L, labels, logits, what):
    import numpy as np

    got, _ = t.classification_metrics(logits, labels)
    want = reference_metrics(problem, logits, labels)

    class EvalPrediction:  # what the Trainer hands compute_metrics: numpy arrays
        predictions = np.asarray(logits, dtype=np.float32)
        label_ids = np.asarray(labels, dtype=np.int64 if problem == "single_label_classification" else np.float32)

    state = {}
    via_trainer = t.make_compute_metrics(state)(EvalPrediction())
    print("  metrics, %s (%d rows): %s" % (what, len(labels), ", ".join("%s %.12g (here %.12g)" % (k, got[k], want[k]) for k in want)))
    if sorted(got) != sorted(want):
        fail("metric names %s, expected %s" % (sorted(got), sorted(want)))
    for k in want:
        if not abs(got[k] - want[k]) <= 1e-9 * max(1.0, abs(want[k])):
            fail("%s: %r, expected %r" % (k, got[k], want[k]))
        # compute_metrics sees the f32 logits the Trainer gathers: equal to f32 rounding, same names.
        if not abs(via_trainer[k] - want[k]) <= 1e-5 * max(1.0, abs(want[k])):
            fail("compute_metrics %s: %r, expected %r" % (k, via_trainer[k], want[k]))
    if "last_eval_details" not in state:
        fail("compute_metrics kept no details")


def check_classification(folder, t):
    problem, L = t.PROBLEM_TYPE, len(t.LABELS)
    rows = t.read_jsonl(folder + "/" + t.TRAIN_FILE)
    lengths = [len(r["input_ids"]) for r in rows]
    print("%s: %d labels %s, %d train rows of %d..%d tokens, token types %s, pad id %d"
          % (problem, L, t.LABELS, len(rows), min(lengths), max(lengths), "on" if t.USE_TOKEN_TYPE_IDS else "off", t.PAD_TOKEN_ID))
    torch.manual_seed(0)
    vocab = max(max(r["input_ids"]) for r in rows) + 1
    model = ToyEncoder(max(vocab, t.PAD_TOKEN_ID + 1), L)
    steps = [("one optimizer step of BATCH_SIZE=%d rows" % t.BATCH_SIZE, rows[:t.BATCH_SIZE]), ("the whole train split as one step", rows)]
    for what, step in steps:
        print(" %s (%d rows):" % (what, len(step)))
        check_classification_loss(t, step, model, problem, L)
    check_evaluation_loss(t, rows[:5], model, problem)

    # Metrics: random logits against the rows' labels, and against random labels with more rows.
    g = torch.Generator().manual_seed(1)
    labels = [r["labels"] for r in rows]
    check_classification_metrics(t, problem, L, labels, torch.randn(len(rows), L, generator=g, dtype=torch.float64).tolist(), "the rows' labels, random logits")
    n = 500
    if problem == "single_label_classification":
        random_labels = torch.randint(0, max(L - 1, 1), (n,), generator=g).tolist()  # the last class never present
        lg = torch.randn(n, L, generator=g, dtype=torch.float64)
        lg[:, 0] -= 100  # class 0 never predicted
    elif problem == "multi_label_classification":
        random_labels = (torch.rand(n, L, generator=g) < 0.4).double().tolist()
        lg = torch.randn(n, L, generator=g, dtype=torch.float64)
    else:
        random_labels = (torch.randn(n, generator=g, dtype=torch.float64) * 0.7).tolist()
        lg = torch.randn(n, L, generator=g, dtype=torch.float64)
    check_classification_metrics(t, problem, L, random_labels, lg.tolist(), "random labels, random logits")


def main():
    folder = sys.argv[1]
    t = load(folder)
    if getattr(t, "OBJECTIVE", "causal-lm") == "classification":
        check_classification(folder, t)
    else:
        check_causal_lm(folder, t)
    print("ok")


if __name__ == "__main__":
    main()
