"""run.py MODEL.onnx ROWS.csv|ROWS.parquet: checks an exported model with onnx's full
checker, runs it with onnxruntime on the CSV's rows (each graph input
from its column: doubles, NaN for an empty cell, 1 and 0 for true and
false; strings, "" for an empty cell), and prints {"prediction": [...], "probabilities": [[...]]} as JSON.
"""
import csv
import json
import sys

import numpy as np
import onnx
import onnxruntime


def main():
    model_path, rows_path = sys.argv[1], sys.argv[2]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    feeds = {}
    if rows_path.endswith(".parquet"):
        # Images as pipe read them (a list of floats per row, channel-major).
        import pyarrow.parquet

        table = pyarrow.parquet.read_table(rows_path)
        for graph_input in session.get_inputs():
            values = np.array(table.column(graph_input.name).to_pylist(), dtype=np.float32)
            feeds[graph_input.name] = values.reshape([-1] + list(graph_input.shape[1:]))
        run(session, feeds)
        return
    with open(rows_path, newline="") as f:
        rows = list(csv.DictReader(f))
    for graph_input in session.get_inputs():
        cells = [row[graph_input.name] for row in rows]
        if graph_input.type == "tensor(string)":
            feeds[graph_input.name] = np.array(cells, dtype=object).reshape(-1, 1)
        else:
            words = {"true": 1.0, "false": 0.0, "": float("nan"), "NA": float("nan"), "null": float("nan")}
            numbers = [words[c] if c in words else float(c) for c in cells]
            feeds[graph_input.name] = np.array(numbers, dtype=np.float64).reshape(-1, 1)
    run(session, feeds)


def run(session, feeds):
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, feeds)))
    answer = {"prediction": [p.item() if hasattr(p, "item") else p for p in outputs["prediction"].reshape(-1)]}
    if "probabilities" in outputs:
        answer["probabilities"] = outputs["probabilities"].astype(float).tolist()
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
