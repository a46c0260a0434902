"""Writes the first ROWS Fashion-MNIST training images and labels as .npy files for nnrun --train:
features (ROWS, 784) f32 scaled to [0, 1], labels (ROWS,) i64, in the file's order.

usage: fashion_batches.py IDX_DIR ROWS FEATURES.npy LABELS.npy
"""
import gzip
import os
import sys

import numpy as np

idx_dir, rows, features_path, labels_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def read_idx(name, header):
    with gzip.open(os.path.join(idx_dir, name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


images = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
labels = read_idx("train-labels-idx1-ubyte.gz", 8)
if rows > len(labels):
    sys.exit(f"{idx_dir}: holds {len(labels)} training images, not {rows}")
np.save(features_path, images[:rows].astype(np.float32) / 255)
np.save(labels_path, labels[:rows].astype(np.int64))
