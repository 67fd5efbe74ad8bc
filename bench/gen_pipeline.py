#!/usr/bin/env python3
"""Writes a valid `.pipe` file of about N lines, for timing `pipe check`.

It repeats realistic items (sources, stages, transforms, models, training
runs) with distinct names, so the checker sees the work a large project has.

usage: gen_pipeline.py LINES OUT.pipe [--source PATH]
"""
import argparse


def block(i, source):
    return f"""source people{i} = csv("{source}")

stage clean{i} = people{i}
    |> drop_nulls(income)
    |> filter(age >= 0 and age < 120)
    |> with(ratio: income / (age + 1))

split train{i}, val{i}, test{i} = clean{i} |> split([0.7, 0.15, 0.15], stratify: label, seed: {i})

transform prep{i} = fit(train{i}) {{
    cut(age, [0, 18, 65, inf], labels: [teen, adult, senior], include_lowest: true) as age_group
    qcut(income, 4) as income_q
    standard(f0..f15)
    minmax(f16..f31, range: [0, 1])
    onehot(city, age_group, income_q)
    pca(f0..f31, 8) as pc
}}

model net{i}(width: int = 64) {{
    for w in [width, width] {{
        dense(w, init: he_normal)
        batchnorm()
        relu()
        dropout(0.5)
    }}
    dense(2)
}}

train run{i} = net{i}(width: 128) on prep{i}(train{i}) {{
    target: label
    validate: prep{i}(val{i})
    loss: cross_entropy
    optimizer: adam(lr: 1e-3, weight_decay: 1e-4)
    schedule: warmup(epochs: 2) then cosine(min_lr: 1e-5)
    batch: 512
    epochs: 20
    early_stop: patience(3, on: val.loss, restore_best: true)
}}

evaluate report{i} = run{i} on prep{i}(test{i}) {{
    metrics: [accuracy, f1, confusion]
}}

"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("lines", type=int)
    parser.add_argument("out")
    parser.add_argument("--source", default="people.csv")
    args = parser.parse_args()
    parts, count, i = [], 0, 0
    while count < args.lines:
        text = block(i, args.source)
        parts.append(text)
        count += text.count("\n")
        i += 1
    with open(args.out, "w") as f:
        f.write("".join(parts))
    print(f"wrote {count} lines ({i} pipelines) to {args.out}")


if __name__ == "__main__":
    main()
