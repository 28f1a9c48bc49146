/**
 * train.py of the PyTorch export: this run's recipe as ordinary Transformers + PEFT code, launched
 * with accelerate. One script for both kinds of run: a causal-LM run (AutoModelForCausalLM,
 * task_type CAUSAL_LM) and a classification run (AutoModelForSequenceClassification, task_type
 * SEQ_CLS with the head trained in full as PEFT's modules_to_save, compute_metrics). Only the two generated blocks at the top vary (the run's settings, from the
 * settings contract through pytorchSettings.ts, and what this export holds); the rest is the same
 * for every run and needs no ML package at import time, so `python3 train.py --check-only` checks
 * the exported data and the batch plan anywhere.
 *
 * What train.py keeps from the studio (README.md of the export says it to the user):
 * - the tokens: rows come tokenized, with the labels the studio's loss used (-100 where not trained);
 * - the loss: Σ cross-entropy over the target tokens of the whole effective batch, across every
 *   micro-batch and every GPU, divided by their count (compute_loss_func + Transformers' token
 *   count, average_tokens_across_devices);
 * - the effective batch: per-device batch × accumulation × processes = BATCH_SIZE, split at launch;
 * - AdamW (betas, eps, decoupled decay on every LoRA matrix), clipping, the LR schedule with warmup;
 * - packing with attention kept inside each example (checked on the GPU before training);
 * - validation as the studio measures it: token-weighted loss, perplexity, token accuracy, before
 *   the first step, every EVAL_EVERY steps and after the last;
 * - for a classifier: the head's task (problem_type, labels), its loss summed over the step's rows
 *   (or row × label elements) and divided by their count over every micro-batch and GPU, as the
 *   engine's classify kernels do, and the studio's metrics (classify/metrics.ts) in compute_metrics.
 * What differs: PyTorch's random numbers (LoRA init, dropout masks, shuffle order) and the
 * arithmetic (bf16 autocast by default, the studio computes in f32).
 */
import { pyLiteral, settingsBlock, type ExportObjective, type PyValue } from './pytorchSettings';
import type { RunSettings } from '../../settings/settings';
import type { ClassificationProblem } from '../encoderConfig';

/** What train.py needs of a classification run's head. */
export interface ScriptClassification {
  problemType: ClassificationProblem;
  /** The head's outputs by id (regression: one name). */
  labels: string[];
  /** LoraConfig's target_modules in the encoder's own names, as the studio's adapter_config.json writes them. */
  targetModules: string[] | string;
  /** Whether the model takes token_type_ids (BERT, RoBERTa; DistilBERT's forward has none). */
  tokenTypeIds: boolean;
}

export interface ScriptExport {
  /** Base model for from_pretrained: a hub id, "model" (bundled) or the local folder's name. */
  baseModel: string;
  baseModelRevision: string | null;
  /** What the studio calls the base (adapter_config.json's base_model_name_or_path). */
  baseModelName: string;
  /** Whether BASE_MODEL is a folder inside the export. */
  bundledModel: boolean;
  trainFile: string;
  validationFile: string | null;
  tokenizerDir: string;
  initAdapter: string | null;
  initAdapterSteps: number;
  padTokenId: number;
  title: string;
  /** The head of a classification run; null for a causal-LM run. */
  classification: ScriptClassification | null;
}

export const SETTINGS_BEGIN = '# ---- run settings (generated from Adapter Studio\'s settings contract; README.md maps each one) ----';
export const SETTINGS_END = '# ---- end of run settings ----';
export const EXPORT_BEGIN = '# ---- this export ----';
export const EXPORT_END = '# ---- end of this export ----';

function exportBlock(s: RunSettings, e: ScriptExport): string {
  const lines: [string, PyValue, string][] = [];
  const v = (name: string, value: PyValue, comment: string) => lines.push([name, value, comment]);
  const c = e.classification;
  [
    v('OBJECTIVE', c ? 'classification' : 'causal-lm', c ? 'an encoder\'s classification head (AutoModelForSequenceClassification, SEQ_CLS)' : 'next tokens (AutoModelForCausalLM, CAUSAL_LM)'),
    v('PROBLEM_TYPE', c ? c.problemType : null, 'the head\'s task (Transformers\' problem_type)'),
    v('LABELS', c ? c.labels : null, 'the head\'s outputs by id (id2label)'),
    v('PEFT_TARGET_MODULES', c ? c.targetModules : [...s.lora.targets], 'LORA_TARGETS in the model\'s own module names'),
    v('USE_TOKEN_TYPE_IDS', c ? c.tokenTypeIds : false, 'the rows\' token_type_ids go to the model'),
    v('BASE_MODEL', e.baseModel, e.bundledModel ? 'bundled in this folder' : 'a hub id, or pass --model PATH'),
    v('BASE_MODEL_REVISION', e.baseModelRevision, 'hub revision (None: main)'),
    v('BASE_MODEL_NAME', e.baseModelName, 'the base as the studio names it'),
    v('TRAIN_FILE', e.trainFile, 'rows as the studio rendered them'),
    v('VALIDATION_FILE', e.validationFile, 'the studio\'s validation split'),
    v('TOKENIZER_DIR', e.tokenizerDir, 'the tokenizer and chat template the rows were rendered with'),
    v('INIT_ADAPTER', e.initAdapter, 'start from the studio\'s adapter (None: PEFT\'s init)'),
    v('INIT_ADAPTER_STEPS', e.initAdapterSteps, 'steps the studio had trained it'),
    v('PAD_TOKEN_ID', e.padTokenId, 'pad id of the tokenizer'),
  ];
  const width = Math.max(44, ...lines.map(([n, x]) => `${n} = ${pyLiteral(x)}`.length + 2));
  return lines.map(([n, x, comment]) => `${`${n} = ${pyLiteral(x)}`.padEnd(width)}# ${comment}`).join('\n');
}

/** The whole of train.py for a run. */
export function trainScript(settings: RunSettings, e: ScriptExport): string {
  const objective: ExportObjective = e.classification ? 'classification' : 'causal-lm';
  return `#!/usr/bin/env python3
# ${e.title.replace(/[\r\n]+/g, ' ')}
# Generated by Adapter Studio: the run's LoRA recipe in Transformers + PEFT, launched with accelerate.
#
#   pip install -r requirements.txt
#   accelerate launch --config_file accelerate/single_gpu.yaml train.py        (or multi_gpu.yaml, fsdp.yaml, deepspeed_zero2.yaml)
#
# The rows in data/ are tokenized already, exactly as the studio trained on them; nothing here
# tokenizes again. README.md says where each setting below goes and what differs from the studio.
"""Fine-tunes a LoRA adapter with the settings of an Adapter Studio run (see README.md)."""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

${SETTINGS_BEGIN}
${settingsBlock(settings, objective)}
${SETTINGS_END}

${EXPORT_BEGIN}
${exportBlock(settings, e)}
${EXPORT_END}
${SCRIPT_BODY}`;
}

// The part of train.py that is the same for every run. String.raw keeps Python's backslashes.
const SCRIPT_BODY = String.raw`
IGNORE_INDEX = -100


def is_main_process():
    return int(os.environ.get("RANK", "0")) == 0


def log(message):
    if is_main_process():
        print(message, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train the LoRA adapter of an Adapter Studio run with Transformers + PEFT (launch with accelerate).")
    p.add_argument("--model", default=None, help="base model: a hub id or a folder (default: BASE_MODEL)")
    p.add_argument("--output-dir", default="output", help="the adapter, checkpoint-N folders and trainer_state.json (default: output)")
    p.add_argument("--per-device-batch", type=int, default=None, help="rows per GPU per pass (default: MICRO_BATCH, or BATCH_SIZE when it is 0); accumulation keeps the effective batch at BATCH_SIZE")
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto", help="auto: bf16 where the GPU has it, else fp32")
    p.add_argument("--gradient-checkpointing", choices=["auto", "on", "off"], default=None, help="overrides GRADIENT_CHECKPOINTING (auto is off here)")
    p.add_argument("--attn", choices=["sdpa", "flash_attention_2", "eager"], default="sdpa", help="attention implementation (default: sdpa)")
    p.add_argument("--resume-from-checkpoint", default=None, help="a checkpoint-N folder of an earlier launch, or 'last'")
    p.add_argument("--report-to", default="none", help="tensorboard, wandb, ... (default: none)")
    p.add_argument("--check-only", action="store_true", help="check the data and print the batch plan as JSON, then stop (no GPU, no ML package needed)")
    return p.parse_args(argv)


def plan_batches(batch_size, processes, requested):
    """Per-device batch and accumulation so that per_device x accumulation x processes == batch_size."""
    if batch_size % processes:
        fits = [n for n in range(1, batch_size + 1) if batch_size % n == 0]
        raise SystemExit(
            "BATCH_SIZE %d does not split over %d processes; launch a number of processes that divides it (%s), "
            "so that the effective batch stays the run's" % (batch_size, processes, ", ".join(map(str, fits)))
        )
    per_process = batch_size // processes
    limit = max(1, requested)
    per_device = max(d for d in range(1, per_process + 1) if per_process % d == 0 and d <= limit)
    return per_device, per_process // per_device


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def row_columns():
    """The columns train.py reads of the exported rows: "row" and "label" for the checks, the others to train on."""
    return ["row", "label", "input_ids", "token_type_ids", "labels"] if OBJECTIVE == "classification" else ["row", "input_ids", "labels"]


def train_columns():
    """The columns the model trains on."""
    return ["input_ids", "token_type_ids", "labels"] if OBJECTIVE == "classification" else ["input_ids", "labels"]


def batches_of(rows, size=1000):
    """Column batches of a list of dicts or of a datasets.Dataset."""
    if hasattr(rows, "iter"):
        yield from rows.iter(batch_size=size)
        return
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        yield {key: [r.get(key) for r in chunk] for key in row_columns()}


def check_rows(rows, name):
    """Checks rows as the studio wrote them; returns (rows, tokens, target tokens, lengths)."""
    count = tokens = targets = 0
    lengths = []
    for batch in batches_of(rows):
        for file_row, ids, labels in zip(batch["row"], batch["input_ids"], batch["labels"]):
            count += 1
            where = "%s row %d (row %s of the studio's file)" % (name, count, file_row)
            if len(ids) != len(labels):
                raise SystemExit("%s: %d input_ids but %d labels" % (where, len(ids), len(labels)))
            if not 1 <= len(ids) <= MAX_LENGTH:
                raise SystemExit("%s: %d tokens, expected 1 to MAX_LENGTH = %d" % (where, len(ids), MAX_LENGTH))
            if labels[0] != IGNORE_INDEX:
                raise SystemExit("%s: the first label must be -100 (no token precedes it)" % where)
            for t, (token, label) in enumerate(zip(ids, labels)):
                if label != IGNORE_INDEX and label != token:
                    raise SystemExit("%s: label %d at position %d is neither -100 nor the token %d" % (where, label, t, token))
                if label != IGNORE_INDEX:
                    targets += 1
            tokens += len(ids)
            lengths.append(len(ids))
    if count == 0:
        raise SystemExit("%s: no rows" % name)
    return count, tokens, targets, lengths


def check_classification_rows(rows, name):
    """Checks classification rows as the studio wrote them; returns (rows, tokens, lengths, examples per class)."""
    count = tokens = 0
    lengths = []
    classes = [0] * len(LABELS)
    for batch in batches_of(rows):
        for file_row, label_name, ids, types, label in zip(batch["row"], batch["label"], batch["input_ids"], batch["token_type_ids"], batch["labels"]):
            count += 1
            where = "%s row %d (row %s of the studio's file)" % (name, count, file_row)
            if not 1 <= len(ids) <= MAX_LENGTH:
                raise SystemExit("%s: %d tokens, expected 1 to MAX_LENGTH = %d" % (where, len(ids), MAX_LENGTH))
            if len(types) != len(ids):
                raise SystemExit("%s: %d input_ids but %d token_type_ids" % (where, len(ids), len(types)))
            if PROBLEM_TYPE == "single_label_classification":
                if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(LABELS):
                    raise SystemExit("%s: label %r is not a class id in 0..%d" % (where, label, len(LABELS) - 1))
                if label_name != LABELS[label]:
                    raise SystemExit("%s: class id %d is %r in LABELS, but the row's label is %r" % (where, label, LABELS[label], label_name))
                classes[label] += 1
            elif PROBLEM_TYPE == "multi_label_classification":
                if not isinstance(label, list) or len(label) != len(LABELS) or any(x not in (0, 1) for x in label):
                    raise SystemExit("%s: labels %r are not %d zeros and ones (one per label)" % (where, label, len(LABELS)))
                if sorted(label_name) != sorted(LABELS[c] for c, x in enumerate(label) if x):
                    raise SystemExit("%s: labels %r name %r in LABELS, but the row's label is %r" % (where, label, [LABELS[c] for c, x in enumerate(label) if x], label_name))
                for c, x in enumerate(label):
                    classes[c] += int(x)
            elif isinstance(label, bool) or not isinstance(label, (int, float)) or not math.isfinite(label):
                raise SystemExit("%s: target %r is not a number (regression)" % (where, label))
            tokens += len(ids)
            lengths.append(len(ids))
    if count == 0:
        raise SystemExit("%s: no rows" % name)
    return count, tokens, lengths, classes


def pack_rows(lengths, max_length, order):
    """Greedy packing, as the studio packs: consecutive examples of order fill a row until the next one does not fit."""
    packs, current, used = [], [], 0
    for i in order:
        n = min(lengths[i], max_length)
        if current and used + n > max_length:
            packs.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    if current:
        packs.append(current)
    return packs


def packed_row(rows, indices):
    """One packed row: the examples back to back, position ids restarting at 0 for each."""
    ids, labels, positions = [], [], []
    for i in indices:
        r = rows[i]
        ids += r["input_ids"]
        labels += r["labels"]
        positions += list(range(len(r["input_ids"])))
    return {"input_ids": ids, "labels": labels, "position_ids": positions}


def train_order(count):
    order = list(range(count))
    if SHUFFLE:
        random.Random(SEED).shuffle(order)
    return order


def plan(args, train_rows, validation_rows, processes):
    """Everything that can be known before a GPU: the checked data, the packing and the batch plan."""
    requested = args.per_device_batch or MICRO_BATCH or BATCH_SIZE
    per_device, accumulation = plan_batches(BATCH_SIZE, processes, requested)
    summary = {
        "processes": processes,
        "per_device_batch": per_device,
        "gradient_accumulation_steps": accumulation,
        "effective_batch": per_device * accumulation * processes,
    }
    if OBJECTIVE == "classification":
        # One label per row, rows never packed: the studio pads each micro-batch of an encoder.
        count, tokens, lengths, classes = check_classification_rows(train_rows, "train")
        summary.update(train_rows=count, train_tokens=tokens, problem_type=PROBLEM_TYPE, labels=len(LABELS), packing=False)
        if PROBLEM_TYPE != "regression":
            summary["train_label_counts"] = classes
    else:
        count, tokens, targets, lengths = check_rows(train_rows, "train")
        summary.update(train_rows=count, train_tokens=tokens, train_target_tokens=targets, packing=PACKING)
    packs = None
    if PACKING and OBJECTIVE == "causal-lm":
        packs = pack_rows(lengths, MAX_LENGTH, train_order(count))
        summary["packed_rows"] = len(packs)
    items = len(packs) if packs is not None else count
    steps_per_epoch = max(1, math.ceil(items / BATCH_SIZE))
    summary["steps_per_epoch"] = steps_per_epoch
    summary["total_steps"] = MAX_STEPS if MAX_STEPS > 0 else steps_per_epoch * EPOCHS
    summary["warmup_steps"] = math.ceil(summary["total_steps"] * WARMUP_RATIO)
    if validation_rows is not None and OBJECTIVE == "classification":
        v_count, v_tokens, _, v_classes = check_classification_rows(validation_rows, "validation")
        summary.update(validation_rows=v_count, validation_tokens=v_tokens)
        if PROBLEM_TYPE != "regression":
            summary["validation_label_counts"] = v_classes
    elif validation_rows is not None:
        v_count, v_tokens, v_targets, _ = check_rows(validation_rows, "validation")
        summary.update(validation_rows=v_count, validation_tokens=v_tokens, validation_target_tokens=v_targets)
    return summary, packs


class StudioCollator:
    """Packed rows (they have position_ids) become ONE sequence [1, N] with no attention mask, so that
    Transformers builds a block-diagonal causal mask from the position ids (SDPA) or uses them as sequence
    boundaries (flash-attention); unpacked rows are right-padded (pad id, labels -100, attention mask 0)."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, features):
        import torch

        if "position_ids" in features[0] and features[0]["position_ids"] is not None:
            ids, labels, positions = [], [], []
            for f in features:
                ids += f["input_ids"]
                labels += f["labels"]
                positions += f["position_ids"]
            return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]), "position_ids": torch.tensor([positions])}
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for b, f in enumerate(features):
            n = len(f["input_ids"])
            ids[b, :n] = torch.tensor(f["input_ids"])
            labels[b, :n] = torch.tensor(f["labels"])
            mask[b, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def studio_loss(outputs, labels, num_items_in_batch=None):
    """Σ cross-entropy over the target tokens of this micro-batch / the target tokens of the whole optimizer step
    (every micro-batch, every process: Transformers counts them), as the studio's engine computes its loss."""
    import torch.nn.functional as F

    if num_items_in_batch is None:
        raise RuntimeError("Transformers did not count the step's target tokens: install the versions of requirements.txt")
    logits = outputs.logits.float()
    shift_logits = logits[..., :-1, :].contiguous()
    shift_labels = labels[..., 1:].contiguous().to(shift_logits.device)
    total = F.cross_entropy(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1), ignore_index=IGNORE_INDEX, reduction="sum")
    return total / num_items_in_batch


class ClassificationCollator:
    """Rows right-padded to the micro-batch's longest row (pad id, attention mask 0, token type 0), as the studio pads its
    encoder batches; labels as the head's loss takes them: class ids (long), or targets / multi-hot rows (float)."""

    def __init__(self, pad_id, token_type_ids):
        self.pad_id = pad_id
        self.token_type_ids = token_type_ids

    def __call__(self, features):
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        types = torch.zeros((len(features), width), dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for b, f in enumerate(features):
            n = len(f["input_ids"])
            ids[b, :n] = torch.tensor(f["input_ids"])
            types[b, :n] = torch.tensor(f["token_type_ids"])
            mask[b, :n] = 1
        dtype = torch.long if PROBLEM_TYPE == "single_label_classification" else torch.float32
        batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([f["labels"] for f in features], dtype=dtype)}
        if self.token_type_ids:
            batch["token_type_ids"] = types
        return batch


def classification_loss(outputs, labels, num_items_in_batch=None):
    """The studio's classification loss (engine/kernels/classify): each row's loss — cross-entropy (single-label), squared
    error (regression), binary cross-entropy summed over the labels (multi-label) — summed over the micro-batch and divided
    by what the mean of the whole optimizer step divides by: its rows (single-label) or row x label elements, over every
    micro-batch and process. Transformers counts exactly that (labels != -100) as num_items_in_batch. Evaluation passes
    no count: the mean over the batch."""
    import torch.nn.functional as F

    logits = outputs.logits.float()
    labels = labels.to(logits.device)
    if PROBLEM_TYPE == "single_label_classification":
        total = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=IGNORE_INDEX, reduction="sum")
        count = int((labels != IGNORE_INDEX).sum())
    elif PROBLEM_TYPE == "regression":
        total = ((logits.view(-1) - labels.view(-1).float()) ** 2).sum()
        count = labels.numel()
    else:
        total = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="sum")
        count = labels.numel()
    return total / (num_items_in_batch if num_items_in_batch is not None else max(count, 1))


def classification_metrics(logits, labels):
    """The studio's evaluation metrics (engine/kernels/classify/metrics.ts) from rows of logits and their labels (plain
    lists), named as the Trainer logs them once it adds "eval_":
      single-label  accuracy; f1 = macro F1 over all LABELS (a class never predicted or never present counts as F1 0,
                    sklearn's zero_division=0 averaged over every label, not only those that occur)
      multi-label   f1 (micro, at logit > 0 against target > 0.5), f1_macro, precision, recall (micro), accuracy (exact match)
      regression    mse, mae, pearson (over every output x target pair; NaN when either side is constant)
    Returns (metrics, details): details are the per-class precision / recall / f1 / support and the confusion matrix."""
    L = len(LABELS)

    def ratio(a, b):
        return a / b if b > 0 else 0.0

    def f1_of(p, r):
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    if PROBLEM_TYPE == "single_label_classification":
        confusion = [[0] * L for _ in range(L)]
        for row, label in zip(logits, labels):
            if isinstance(label, int) and 0 <= label < L:
                predicted = max(range(L), key=lambda l: row[l])  # the first maximum, as argmax
                confusion[label][predicted] += 1
        per_class = []
        for c in range(L):
            tp = confusion[c][c]
            precision = ratio(tp, sum(confusion[k][c] for k in range(L)))
            recall = ratio(tp, sum(confusion[c]))
            per_class.append({"label": LABELS[c], "precision": precision, "recall": recall, "f1": f1_of(precision, recall), "support": sum(confusion[c])})
        right = sum(confusion[c][c] for c in range(L))
        metrics = {"accuracy": ratio(right, sum(map(sum, confusion))), "f1": sum(c["f1"] for c in per_class) / L if L else 0.0}
        return metrics, {"per_class": per_class, "confusion": {"labels": list(LABELS), "counts": confusion}}
    if PROBLEM_TYPE == "multi_label_classification":
        tp, fp, fn = [0] * L, [0] * L, [0] * L
        exact = rows = 0
        for row, target in zip(logits, labels):
            right = True
            for l in range(L):
                predicted, truth = row[l] > 0, target[l] > 0.5
                tp[l] += predicted and truth
                fp[l] += predicted and not truth
                fn[l] += truth and not predicted
                right = right and predicted == truth
            exact += right
            rows += 1
        per_class = []
        for c in range(L):
            precision, recall = ratio(tp[c], tp[c] + fp[c]), ratio(tp[c], tp[c] + fn[c])
            per_class.append({"label": LABELS[c], "precision": precision, "recall": recall, "f1": f1_of(precision, recall), "support": tp[c] + fn[c]})
        micro_p, micro_r = ratio(sum(tp), sum(tp) + sum(fp)), ratio(sum(tp), sum(tp) + sum(fn))
        metrics = {
            "f1": f1_of(micro_p, micro_r),
            "f1_macro": sum(c["f1"] for c in per_class) / L if L else 0.0,
            "precision": micro_p,
            "recall": micro_r,
            "accuracy": ratio(exact, rows),
        }
        return metrics, {"per_class": per_class}
    pairs = [(float(x), float(y)) for row, target in zip(logits, labels) for x, y in zip(row, target if isinstance(target, list) else [target])]
    n = len(pairs)
    mean_x = ratio(sum(x for x, _ in pairs), n)
    mean_y = ratio(sum(y for _, y in pairs), n)
    m2x = sum((x - mean_x) ** 2 for x, _ in pairs)
    m2y = sum((y - mean_y) ** 2 for _, y in pairs)
    cxy = sum((x - mean_x) * (y - mean_y) for x, y in pairs)
    denominator = math.sqrt(m2x * m2y)
    metrics = {
        "mse": ratio(sum((x - y) ** 2 for x, y in pairs), n),
        "mae": ratio(sum(abs(x - y) for x, y in pairs), n),
        "pearson": cxy / denominator if denominator > 0 else float("nan"),
    }
    return metrics, {}


def make_compute_metrics(state):
    """compute_metrics for the Trainer: the studio's metrics of the whole validation split; the details of the last
    evaluation (per class, confusion) are kept for adapter_studio_run.json."""

    def compute_metrics(eval_pred):
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        metrics, details = classification_metrics(logits.tolist(), eval_pred.label_ids.tolist())
        state["last_eval_details"] = details
        return metrics

    return compute_metrics


DROPOUT_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "dropout", "attention_dropout", "seq_classif_dropout")


def load_classifier(model_path, attn):
    """The encoder with a head for LABELS (num_labels, id2label, label2id, problem_type as the studio's run), in f32 as the
    studio trains it (--precision sets the autocast). A checkpoint's head of another size is drawn anew, as the studio does;
    ENCODER_DROPOUT False sets every dropout probability of the config to 0 (the studio's switch)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(
        model_path,
        revision=BASE_MODEL_REVISION,
        num_labels=len(LABELS),
        id2label={i: name for i, name in enumerate(LABELS)},
        label2id={name: i for i, name in enumerate(LABELS)},
        problem_type=PROBLEM_TYPE,
    )
    if not ENCODER_DROPOUT:
        for field in DROPOUT_FIELDS:
            if hasattr(config, field):
                setattr(config, field, 0.0)
    return AutoModelForSequenceClassification.from_pretrained(
        model_path, config=config, revision=BASE_MODEL_REVISION, dtype=torch.float32, attn_implementation=attn, ignore_mismatched_sizes=True
    )


def save_labels(model, folder):
    """config.json beside the adapter: the ...ForSequenceClassification config with id2label, label2id and problem_type, as
    the studio writes it next to an encoder's adapter (its library reads the labels from it)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.config.architectures = [base.__class__.__name__]
    base.config.save_pretrained(str(folder))


def make_trainer_class():
    import torch
    import torch.nn.functional as F
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class StudioTrainer(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            if SHUFFLE:
                return super()._get_train_sampler(*args, **kwargs)
            dataset = args[0] if args else kwargs.get("train_dataset")
            return SequentialSampler(dataset if dataset is not None else self.train_dataset)

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            """Validation as the studio measures it: loss and accuracy over every target token (not a mean of batch means).
            A classifier's is the Trainer's own: eval_loss (batch means weighted by rows: the mean over every row or
            element) and compute_metrics."""
            if OBJECTIVE == "classification":
                return super().evaluate(eval_dataset=eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
            dataset = self.eval_dataset if eval_dataset is None else eval_dataset
            if dataset is None:
                return {}
            loader = self.get_eval_dataloader(dataset)
            model = self.model_wrapped if self.model_wrapped is not None else self.model
            training = model.training
            model.eval()
            sums = torch.zeros(3, dtype=torch.float64, device=self.args.device)
            with torch.no_grad():
                for batch in loader:
                    batch = self._prepare_inputs(batch)
                    labels = batch.pop("labels")
                    logits = model(**batch).logits.float()[:, :-1]
                    target = labels[:, 1:].to(logits.device)
                    mask = target != IGNORE_INDEX
                    ce = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")
                    correct = (logits.argmax(-1) == target) & mask
                    per_row = torch.stack([(ce * mask).sum(-1).double(), mask.sum(-1).double(), correct.sum(-1).double()], dim=1)
                    sums += self.accelerator.gather_for_metrics(per_row).sum(0).to(sums.device)
            model.train(training)
            loss_sum, count, correct = sums.tolist()
            loss = loss_sum / count if count else float("nan")
            metrics = {
                metric_key_prefix + "_loss": loss,
                metric_key_prefix + "_perplexity": math.exp(loss) if loss < 700 else float("inf"),
                metric_key_prefix + "_accuracy": correct / count if count else float("nan"),
            }
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return StudioTrainer


def packing_leak(model, rows, device):
    """Runs two examples packed in one sequence and the second alone: the second's logits must not change
    (attention stays inside each example). Returns (error when packed, error if attention leaked)."""
    import torch

    a = [rows[i]["input_ids"][:16] for i in range(min(2, len(rows)))]
    if len(a) < 2 or len(a[1]) < 2:
        return None
    ids = torch.tensor([a[0] + a[1]], device=device)
    restart = torch.tensor([list(range(len(a[0]))) + list(range(len(a[1])))], device=device)
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([a[1]], device=device)).logits[0].float()
        packed = model(input_ids=ids, position_ids=restart).logits[0, len(a[0]):].float()
        leaked = model(input_ids=ids, position_ids=restart, attention_mask=torch.ones_like(ids)).logits[0, len(a[0]):].float()
    return (packed - alone).abs().max().item(), (leaked - alone).abs().max().item()


def make_callback(trainer_ref, state):
    from transformers import TrainerCallback

    class StudioCallback(TrainerCallback):
        """The studio's checks and evaluations around the Trainer's loop."""

        def on_train_begin(self, args, trainer_state, control, model=None, **kwargs):
            trainer = trainer_ref[0]
            if PACKING and OBJECTIVE == "causal-lm":
                training = model.training
                model.eval()
                errors = packing_leak(model, state["check_rows"], args.device)
                model.train(training)
                if errors is not None:
                    packed, leaked = errors
                    log("packing check: packed vs alone %.3g, leaking attention would give %.3g" % (packed, leaked))
                    if leaked > 0 and packed > 0.1 * leaked:
                        raise SystemExit(
                            "packed examples attend to each other with this attention implementation (%s): "
                            "use the pinned versions, --attn flash_attention_2 (pip install flash-attn), or PACKING = False" % state["attn"]
                        )
            if state["has_validation"] and EVAL_EVERY > 0 and trainer_state.global_step == 0:
                trainer.evaluate()
            return control

        def on_evaluate(self, args, trainer_state, control, metrics=None, **kwargs):
            state["evaluated_at"] = trainer_state.global_step
            state["last_eval"] = dict(metrics or {}, step=trainer_state.global_step)
            return control

        def on_save(self, args, trainer_state, control, model=None, **kwargs):
            folder = Path(args.output_dir) / ("checkpoint-%d" % trainer_state.global_step)
            if OBJECTIVE == "classification" and is_main_process() and folder.is_dir():
                save_labels(model, folder)
            return control

    return StudioCallback()


def main(argv=None):
    args = parse_args(argv)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    train_path = HERE / TRAIN_FILE
    validation_path = HERE / VALIDATION_FILE if VALIDATION_FILE else None
    if args.check_only:
        train_rows = read_jsonl(train_path)
        validation_rows = read_jsonl(validation_path) if validation_path else None
        summary, _ = plan(args, train_rows, validation_rows, processes)
        print(json.dumps(summary, sort_keys=True))
        return summary

    import torch
    import transformers
    import peft
    from datasets import Dataset, load_dataset
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, TrainingArguments, set_seed

    classifier = OBJECTIVE == "classification"
    columns = row_columns()
    train_rows = load_dataset("json", data_files=str(train_path), split="train").select_columns(columns)
    validation_rows = None
    if validation_path:
        validation_rows = load_dataset("json", data_files=str(validation_path), split="train").select_columns(columns)
    summary, packs = plan(args, train_rows, validation_rows, processes)
    log("plan: " + json.dumps(summary, sort_keys=True))
    if packs is not None:
        cache = Path(args.output_dir) / ".packed" / os.environ.get("RANK", "0")
        train_dataset = Dataset.from_generator(lambda: (packed_row(train_rows, p) for p in packs), cache_dir=str(cache))
    else:
        train_dataset = train_rows.select_columns(train_columns())
    eval_dataset = validation_rows.select_columns(train_columns()) if validation_rows is not None else None

    precision = args.precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    # train.py decides the precision, not the accelerate config (Trainer reads this variable).
    os.environ["ACCELERATE_MIXED_PRECISION"] = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[precision]
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    # FSDP flattens parameters of one dtype: the base loads in f32 and FSDP computes in bf16 (PEFT's own FSDP recipe).
    load_dtype = torch.float32 if fsdp or precision == "fp32" else {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    checkpointing = args.gradient_checkpointing or GRADIENT_CHECKPOINTING
    log("torch %s, transformers %s, peft %s; %d process(es), %s, gradient checkpointing %s"
        % (torch.__version__, transformers.__version__, peft.__version__, processes, precision, "on" if checkpointing == "on" else "off"))

    set_seed(SEED)
    model_path = args.model or (str(HERE / BASE_MODEL) if (HERE / BASE_MODEL).is_dir() else BASE_MODEL)
    if classifier:
        model = load_classifier(model_path, args.attn)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_path, revision=BASE_MODEL_REVISION, dtype=load_dtype, attn_implementation=args.attn)
        model.config.use_cache = False  # training: no KV cache (and SDPA's packed-sequence masks need none)
    target_modules = PEFT_TARGET_MODULES if isinstance(PEFT_TARGET_MODULES, str) else list(PEFT_TARGET_MODULES)
    if INIT_ADAPTER:
        model = PeftModel.from_pretrained(model, str(HERE / INIT_ADAPTER), is_trainable=True)
        got = model.peft_config["default"]
        modules = (lambda m: m if isinstance(m, str) else sorted(m))
        want = {"r": LORA_R, "lora_alpha": LORA_ALPHA, "lora_dropout": LORA_DROPOUT, "use_rslora": USE_RSLORA, "target_modules": modules(target_modules)}
        have = {"r": got.r, "lora_alpha": got.lora_alpha, "lora_dropout": got.lora_dropout, "use_rslora": got.use_rslora, "target_modules": modules(got.target_modules)}
        if have != want:
            raise SystemExit("the adapter in %s has %s but the settings say %s" % (INIT_ADAPTER, have, want))
        log("continuing the studio's adapter after %d steps" % INIT_ADAPTER_STEPS)
    else:
        # SEQ_CLS: PEFT adds modules_to_save ["classifier", "score"] and trains those head modules in full, as the studio does.
        model = get_peft_model(model, LoraConfig(
            task_type="SEQ_CLS" if classifier else "CAUSAL_LM",
            r=LORA_R,
            lora_alpha=LORA_ALPHA,
            lora_dropout=LORA_DROPOUT,
            target_modules=target_modules,
            bias=LORA_BIAS,
            use_rslora=USE_RSLORA,
            layers_to_transform=LAYERS_TO_TRANSFORM,
            base_model_name_or_path=BASE_MODEL_NAME if not (HERE / BASE_MODEL).is_dir() else None,
        ))
    if is_main_process():
        model.print_trainable_parameters()

    has_validation = eval_dataset is not None
    targs = TrainingArguments(
        output_dir=args.output_dir,
        per_device_train_batch_size=summary["per_device_batch"],
        per_device_eval_batch_size=summary["per_device_batch"],
        gradient_accumulation_steps=summary["gradient_accumulation_steps"],
        learning_rate=LEARNING_RATE,
        num_train_epochs=EPOCHS,
        max_steps=MAX_STEPS if MAX_STEPS > 0 else -1,
        weight_decay=WEIGHT_DECAY,
        lr_scheduler_type="constant_with_warmup" if SCHEDULE == "constant" else SCHEDULE,
        warmup_ratio=WARMUP_RATIO,
        max_grad_norm=MAX_GRAD_NORM,
        optim="adamw_torch",
        adam_beta1=ADAM_BETAS[0],
        adam_beta2=ADAM_BETAS[1],
        adam_epsilon=ADAM_EPSILON,
        seed=SEED,
        data_seed=SEED,
        logging_strategy="steps",
        logging_steps=LOG_EVERY,
        eval_strategy="steps" if has_validation and EVAL_EVERY > 0 else "no",
        eval_steps=EVAL_EVERY if has_validation and EVAL_EVERY > 0 else None,
        save_strategy="steps" if SAVE_EVERY > 0 else "no",
        save_steps=SAVE_EVERY if SAVE_EVERY > 0 else 500,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        gradient_checkpointing=checkpointing == "on",
        gradient_checkpointing_kwargs={"use_reentrant": False},
        average_tokens_across_devices=True,
        remove_unused_columns=False,
        label_names=["labels"],
        ddp_find_unused_parameters=False,
        report_to=args.report_to,
    )
    state = {"check_rows": train_rows, "attn": args.attn, "has_validation": has_validation, "evaluated_at": None, "last_eval": None, "last_eval_details": None}
    trainer_ref = []
    trainer = make_trainer_class()(
        model=model,
        args=targs,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=ClassificationCollator(PAD_TOKEN_ID, USE_TOKEN_TYPE_IDS) if classifier else StudioCollator(PAD_TOKEN_ID),
        compute_loss_func=classification_loss if classifier else studio_loss,
        compute_metrics=make_compute_metrics(state) if classifier and has_validation else None,
        callbacks=[make_callback(trainer_ref, state)],
    )
    trainer_ref.append(trainer)
    if getattr(trainer.accelerator.state, "fsdp_plugin", None):
        # PEFT + FSDP: trainable and frozen parameters wrapped apart (PEFT's FSDP guide).
        from peft.utils.other import fsdp_auto_wrap_policy

        trainer.accelerator.state.fsdp_plugin.auto_wrap_policy = fsdp_auto_wrap_policy(trainer.model)

    resume = args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume == "last" else resume)
    if has_validation and state["evaluated_at"] != trainer.state.global_step:
        trainer.evaluate()  # the studio validates after the last step
    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(args.output_dir)
    trainer.save_state()
    if classifier and trainer.is_world_process_zero():
        save_labels(trainer.model, args.output_dir)
    if trainer.is_world_process_zero():
        record = json.loads((HERE / "run.json").read_text(encoding="utf-8"))
        record["launch"] = dict(summary, precision=precision, attention=args.attn, fsdp=fsdp,
                                deepspeed=trainer.is_deepspeed_enabled, gradient_checkpointing=checkpointing == "on",
                                versions={"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__})
        record["result"] = {"global_step": trainer.state.global_step, "epoch": trainer.state.epoch}
        if classifier and state["last_eval"] is not None:
            record["result"]["final_eval"] = dict(state["last_eval"], **(state["last_eval_details"] or {}))
        (Path(args.output_dir) / "adapter_studio_run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        log("wrote the adapter to %s: import that folder (or a zip of it) into the studio's Library" % args.output_dir)


if __name__ == "__main__":
    main()
`;
