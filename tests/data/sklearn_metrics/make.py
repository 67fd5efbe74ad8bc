#!/usr/bin/env python3
"""make.py OUT.json

The reference for `src/train/metrics.rs`'s tests: scikit-learn's ROC AUC
(`multi_class="ovr"`, macro), average precision (macro over classes one
against the rest), log loss, top-k accuracy, RMSE, R² and MAPE on fixed random cases, with
ties among the scores. Run with the bench venv (scikit-learn 1.9.1); the
output is committed.
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.metrics import (average_precision_score, log_loss, mean_absolute_percentage_error, r2_score,
                             roc_auc_score, root_mean_squared_error, top_k_accuracy_score)
from sklearn.preprocessing import label_binarize

rng = np.random.default_rng(3)


def classes_case(rows, classes, decimals):
    truth = rng.integers(0, classes, rows)
    truth[:classes] = np.arange(classes)  # every class occurs
    if classes == 2:
        p = np.round(rng.random(rows), decimals)
        probabilities = np.stack([1.0 - p, p], axis=1)
        auc = roc_auc_score(truth, p)
        ap = average_precision_score(truth, p)
    else:
        raw = np.round(rng.dirichlet(np.ones(classes), rows), decimals) + 1e-3
        probabilities = raw / raw.sum(axis=1, keepdims=True)
        auc = roc_auc_score(truth, probabilities, multi_class="ovr", average="macro")
        ap = average_precision_score(label_binarize(truth, classes=list(range(classes))), probabilities, average="macro")
    return {
        "classes": classes,
        "truth": truth.tolist(),
        "probabilities": probabilities.flatten().tolist(),
        "auc": float(auc),
        "pr_auc": float(ap),
        "log_loss": float(log_loss(truth, probabilities, labels=list(range(classes)))),
        # k from 1 to the number of classes; two classes score the positive
        # class's probability, as scikit-learn takes them.
        "top_k": [float(top_k_accuracy_score(truth, p if classes == 2 else probabilities, k=k,
                                             labels=list(range(classes))))
                  for k in range(1, classes + 1)],
    }


def numbers_case(rows, zero):
    truth = (rng.normal(3, 2, rows)).astype(np.float32)
    if zero:
        truth[0] = 0.0
    predicted = (truth + rng.normal(0, 0.5, rows)).astype(np.float32)
    t, p = truth.astype(np.float64), predicted.astype(np.float64)
    return {
        "truth": truth.tolist(),
        "predicted": predicted.tolist(),
        "rmse": float(root_mean_squared_error(t, p)),
        "r2": float(r2_score(t, p)),
        "mape": float(mean_absolute_percentage_error(t, p)),
    }


out = {
    "sklearn": sklearn.__version__,
    "classes": [classes_case(200, 2, 2), classes_case(300, 3, 2), classes_case(500, 5, 3), classes_case(50, 2, 1)],
    "numbers": [numbers_case(100, False), numbers_case(60, True)],
}
json.dump(out, open(sys.argv[1], "w"), indent=1)
