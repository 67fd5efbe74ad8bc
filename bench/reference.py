#!/usr/bin/env python3
"""reference.py PEOPLE.csv OUT.csv

Writes the numbers `pipe`'s data stages are tested against, computed with
pandas + scikit-learn (the peers' versions, see bench/README.md): the people
pipeline fitted on every row (cut, qcut, StandardScaler on f0..f15,
MinMaxScaler on f16..f31, one-hot of city, PCA(8) of the 32 scaled columns),
for every 50th row. Run once; the output is committed under
tests/data/reference/.
"""
import sys

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler

STD = [f"f{j}" for j in range(16)]
MINMAX = [f"f{j}" for j in range(16, 32)]


def main():
    src, out = sys.argv[1], sys.argv[2]
    df = pd.read_csv(src)
    df["age_bucket"] = pd.cut(df["age"], bins=[0, 18, 65, np.inf], labels=["teen", "adult", "senior"])
    df["income_q"] = pd.qcut(df["income"], q=4, labels=False)
    df[STD] = StandardScaler().fit_transform(df[STD].to_numpy())
    df[MINMAX] = MinMaxScaler().fit_transform(df[MINMAX].to_numpy())
    scores = PCA(n_components=8).fit_transform(df[STD + MINMAX].to_numpy())
    for k in range(8):
        df[f"pc{k}"] = scores[:, k]
    rows = df.iloc[::50].copy()
    rows.insert(0, "row", rows.index)
    rows["age_bucket"] = rows["age_bucket"].astype(str).replace("nan", "")
    rows.to_csv(out, index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
